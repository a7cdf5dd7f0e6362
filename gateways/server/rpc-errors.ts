/**
 * How errors thrown by service implementations become RPC statuses, for both server stacks. The kinds and
 * codes come from the one error model in `common/errors.ts`; this module only picks the status object each
 * stack wants and makes sure unexpected errors never reach a client with their text.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { GatehouseError, grpcCodeOf } from "../../common/errors.js";

/** Called with every error that is neither a `GatehouseError` nor a `ConnectError`, before it is hidden. */
export type UnexpectedErrorReporter = (error: unknown, procedure: string) => void;

/** The status of an RPC that failed, as gRPC puts it on the wire. */
export interface RpcStatus {
  /** The gRPC status code (google.rpc.Code). */
  code: number;
  /** The status message; safe to show to clients. */
  message: string;
  /** Headers to send as trailers along with the status (only a `ConnectError` carries any). */
  metadata: Headers;
}

const hiddenMessage = "internal error";

/** Writes unexpected errors to stderr: there is no logger yet, and dropping them silently would hide bugs. */
export const reportToStderr: UnexpectedErrorReporter = (error, procedure) => {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`gatehouse: unexpected error in ${procedure}: ${text}\n`);
};

/**
 * The status for anything an implementation threw: a `GatehouseError` keeps its message with the code of its
 * kind, a `ConnectError` keeps its code and message, anything else becomes INTERNAL "internal error".
 */
export function rpcStatusOf(error: unknown, procedure: string, report: UnexpectedErrorReporter): RpcStatus {
  if (error instanceof GatehouseError) {
    if (error.code === "internal") report(error.cause ?? error, procedure);
    return { code: grpcCodeOf(error), message: error.message, metadata: new Headers() };
  }
  if (error instanceof ConnectError) {
    return { code: error.code, message: error.rawMessage, metadata: error.metadata };
  }
  report(error, procedure);
  return { code: Code.Internal, message: hiddenMessage, metadata: new Headers() };
}

/** The `ConnectError` to throw on the Connect stack for anything an implementation threw. */
export function toConnectError(error: unknown, procedure: string, report: UnexpectedErrorReporter): ConnectError {
  if (error instanceof ConnectError) return error;
  const status = rpcStatusOf(error, procedure, report);
  // Connect's Code enum uses the numeric values of the gRPC codes, so the gRPC code is the Connect code.
  return new ConnectError(status.message, status.code as Code, status.metadata);
}

/**
 * A Connect interceptor that maps errors of unary calls and of server streams (which fail while the response
 * is being iterated, after `next` has returned) through `toConnectError`.
 */
export function createErrorInterceptor(report: UnexpectedErrorReporter): Interceptor {
  return (next) => async (request) => {
    const procedure = `/${request.service.typeName}/${request.method.name}`;
    try {
      const response = await next(request);
      if (!response.stream) return response;
      return { ...response, message: mapStreamErrors(response.message, procedure, report) };
    } catch (error) {
      throw toConnectError(error, procedure, report);
    }
  };
}

async function* mapStreamErrors<T>(
  messages: AsyncIterable<T>,
  procedure: string,
  report: UnexpectedErrorReporter,
): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    throw toConnectError(error, procedure, report);
  }
}
