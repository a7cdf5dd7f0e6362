/**
 * Observes the calls connect-node serves (Connect, gRPC-Web, and gRPC when h2c goes to connect-node).
 * It must run outside the error-mapping interceptor, so the codes it records are the ones clients get.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { context as otelContext } from "@opentelemetry/api";
import type { RpcProtocol } from "./metrics.js";
import type { PlaneObserver, RpcObservation } from "./request-observer.js";
import { fetchHeadersGetter, incomingContext } from "./tracing.js";

/** Which protocol a request to connect-node speaks, by its content type (Connect GETs have none). */
export function protocolOf(contentType: string | null): Exclude<RpcProtocol, "rest"> {
  if (contentType === null) return "connect";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/** A Connect interceptor that reports every unary call and server stream to the plane's observer. */
export function createObservingInterceptor(observer: PlaneObserver): Interceptor {
  return (next) => async (request) => {
    const observation = observer.startRpc({
      protocol: protocolOf(request.header.get("content-type")),
      service: request.service.typeName,
      method: request.method.name,
      parent: incomingContext(request.header, fetchHeadersGetter),
    });
    try {
      const response = await otelContext.with(observation.context, () => next(request));
      if (!response.stream) {
        endCompleted(observation, request.signal);
        return response;
      }
      return { ...response, message: observeStream(response.message, observation, request.signal) };
    } catch (error) {
      endWithError(observation, error);
      throw error;
    }
  };
}

/** Passes a response stream through, recording how it ended: completed, failed, or abandoned by the client. */
async function* observeStream<T>(messages: AsyncIterable<T>, observation: RpcObservation, signal: AbortSignal): AsyncIterable<T> {
  try {
    yield* messages;
    endCompleted(observation, signal);
  } catch (error) {
    endWithError(observation, error);
    throw error;
  } finally {
    // Neither completed nor failed: the consumer stopped early, which connect-node does when the client goes.
    observation.end(Code.Canceled);
  }
}

/**
 * Records a call whose implementation returned. When the call's signal was aborted first (the client left,
 * the deadline passed, a forced shutdown), nobody got the answer: it counts as what aborted it.
 */
function endCompleted(observation: RpcObservation, signal: AbortSignal): void {
  if (!signal.aborted) observation.end(0);
  else if (signal.reason instanceof ConnectError) endWithError(observation, signal.reason);
  else observation.end(Code.Canceled);
}

function endWithError(observation: RpcObservation, error: unknown): void {
  const failure = ConnectError.from(error);
  observation.end(failure.code, failure.rawMessage);
}
