/**
 * Serves connect-style service implementations (`ServiceImpl<typeof SomeService>`) on a `@grpc/grpc-js`
 * server, so each service is written once and runs on grpc-js (the fast gRPC path) and on connect-node.
 *
 * What the `HandlerContext` carries on grpc-js (it is made by connect's own `createHandlerContext`):
 * - `signal` aborts when the client cancels, the deadline passes, the server shuts down, or the call ends;
 * - `timeoutMs()` is the time left to the client's deadline;
 * - `requestHeader` holds the request metadata (`-bin` values base64-encoded, as connect does);
 * - `responseHeader` is sent with the first response message (set it before that), `responseTrailer` with
 *   the status; both are dropped when a header is not a valid gRPC metadata key;
 * - `protocolName` is "grpc", `requestMethod` "POST", `url` is built from the `:authority` and the path;
 * - `values` is empty: connect's `contextValues` and interceptors do not run here.
 *
 * With an `observer`, every call gets a span (continuing a `traceparent` from the metadata, active while the
 * implementation runs) and is counted with its final status, as the Connect side's interceptor does.
 */
import { once } from "node:events";
import { LimitExceededError } from "../../common/errors.js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, createServiceImplSpec, type ContextValues, type HandlerContext, type MethodImplSpec, type ServiceImpl } from "@connectrpc/connect";
import {
  Metadata,
  type Server,
  type ServerErrorResponse,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { context as otelContext } from "@opentelemetry/api";
import type { PlaneObserver, RpcObservation } from "../observability/request-observer.js";
import { incomingContext, metadataGetter } from "../observability/tracing.js";
import { reportToStderr, rpcStatusOf, type RpcStatus, type UnexpectedErrorReporter } from "./rpc-errors.js";

/** Options for `registerOnGrpcJs`. */
export interface GrpcJsRegistrationOptions {
  /** Aborts the `signal` of every running call; the plane server aborts it when a graceful close times out. */
  shutdownSignal?: AbortSignal;
  /** Receives errors that are hidden from clients as INTERNAL. Default: written to stderr. */
  onUnexpectedError?: UnexpectedErrorReporter;
  /** Reports every call (metrics, spans). Default: none. */
  observer?: PlaneObserver;
  /**
   * How long a server stream may wait for a client that does not read (its flow-control window and the
   * socket buffers full) before the call fails with RESOURCE_EXHAUSTED. Default 30,000 ms.
   */
  streamSendTimeoutMillis?: number;
}

/** Default `streamSendTimeoutMillis`. */
export const DEFAULT_STREAM_SEND_TIMEOUT_MS = 30_000;

type AnyMessage = MessageShape<DescMessage>;
type AnyCall = ServerUnaryCall<AnyMessage, AnyMessage> | ServerWritableStream<AnyMessage, AnyMessage>;

/** What every handler of one registration shares. */
interface HandlerOptions {
  path: string;
  shutdownSignal: AbortSignal | undefined;
  live: Set<LazyContext>;
  report: UnexpectedErrorReporter;
  observer: PlaneObserver | undefined;
  sendTimeoutMillis: number;
}

/**
 * Registers every unary and server-streaming method of `service` on `server` at `/${typeName}/${name}`,
 * with the generated message types as (de)serializers. Methods missing from `impl` answer UNIMPLEMENTED.
 * Client- and bidi-streaming methods are not supported here (Gatehouse's APIs have none); registering an
 * implementation of one throws, so a service can't silently lose a method on the grpc-js path.
 */
export function registerOnGrpcJs<S extends DescService>(
  server: Server,
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: GrpcJsRegistrationOptions = {},
): void {
  const spec = createServiceImplSpec(service, impl);
  const report = options.onUnexpectedError ?? reportToStderr;
  const live = new Set<LazyContext>();
  options.shutdownSignal?.addEventListener("abort", () => {
    for (const c of [...live]) c.abort(options.shutdownSignal?.reason);
  });
  for (const method of service.methods) {
    const methodSpec = spec.methods[method.localName];
    if (methodSpec === undefined) continue;
    const path = `/${service.typeName}/${method.name}`;
    const handlerOptions: HandlerOptions = {
      path,
      shutdownSignal: options.shutdownSignal,
      live,
      report,
      observer: options.observer,
      sendTimeoutMillis: options.streamSendTimeoutMillis ?? DEFAULT_STREAM_SEND_TIMEOUT_MS,
    };
    const serialize = (message: AnyMessage): Buffer => Buffer.from(toBinary(method.output, message));
    const deserialize = (bytes: Buffer): AnyMessage => fromBinary(method.input, bytes);
    switch (methodSpec.kind) {
      case "unary":
        server.register(path, unaryHandler(methodSpec, handlerOptions), serialize, deserialize, "unary");
        break;
      case "server_streaming":
        server.register(path, serverStreamingHandler(methodSpec, handlerOptions), serialize, deserialize, "serverStream");
        break;
      default:
        if (Object.hasOwn(impl, method.localName)) {
          throw new TypeError(`${path}: ${method.methodKind} methods can't be served over grpc-js by Gatehouse`);
        }
    }
  }
}

function unaryHandler(
  spec: Extract<MethodImplSpec, { kind: "unary" }>,
  { path, shutdownSignal, live, report, observer }: HandlerOptions,
): (call: ServerUnaryCall<AnyMessage, AnyMessage>, callback: sendUnaryData<AnyMessage>) => void {
  return (call, callback) => {
    const { context, cancel } = contextOf(call, spec.method, path, shutdownSignal, live);
    const observation = observe(observer, call, spec.method);
    call.once("cancelled", cancel);
    const run = async (): Promise<void> => {
      try {
        const output = create(spec.method.output, await spec.impl(call.request, context));
        if (context.header !== undefined) sendHeader(call, context.header);
        callback(null, output, context.trailer === undefined ? undefined : metadataOf(context.trailer));
        if (call.cancelled) endCancelled(observation, context.signal);
        else observation?.end(0);
      } catch (error) {
        if (call.cancelled) {
          endCancelled(observation, context.signal);
        } else {
          const status = rpcStatusOf(failureOf(error, context.signal), path, report);
          callback(errorResponseOf(status));
          observation?.end(status.code, status.message);
        }
      } finally {
        call.off("cancelled", cancel);
        context.abort(CALL_ENDED);
      }
    };
    void (observation === undefined ? run() : otelContext.with(observation.context, run));
  };
}

function serverStreamingHandler(
  spec: Extract<MethodImplSpec, { kind: "server_streaming" }>,
  { path, shutdownSignal, live, report, observer, sendTimeoutMillis }: HandlerOptions,
): (call: ServerWritableStream<AnyMessage, AnyMessage>) => void {
  return (call) => {
    const { context, cancel } = contextOf(call, spec.method, path, shutdownSignal, live);
    const observation = observe(observer, call, spec.method);
    call.once("cancelled", cancel);
    const run = async (): Promise<void> => {
      let headerSent = false;
      try {
        for await (const init of spec.impl(call.request, context)) {
          if (call.cancelled) break;
          if (!headerSent) {
            sendHeader(call, context.responseHeader);
            headerSent = true;
          }
          // Backpressure: wait for the stream to drain before asking the implementation for more, so a slow
          // reader holds at most one message here. The wait ends early (rejecting) when the call is
          // cancelled, and fails the call when the client has not read for `sendTimeoutMillis`.
          if (!call.write(create(spec.method.output, init))) await drained(call, context.signal, sendTimeoutMillis);
        }
        if (call.cancelled) {
          endCancelled(observation, context.signal);
        } else {
          call.end(metadataOf(context.responseTrailer));
          observation?.end(0);
        }
      } catch (error) {
        if (call.cancelled) {
          endCancelled(observation, context.signal);
        } else {
          const status = rpcStatusOf(failureOf(error, context.signal), path, report);
          call.emit("error", errorResponseOf(status));
          observation?.end(status.code, status.message);
        }
      } finally {
        call.off("cancelled", cancel);
        context.abort(CALL_ENDED);
      }
    };
    void (observation === undefined ? run() : otelContext.with(observation.context, run));
  };
}

/** Waits for `drain`; a client that stays blocked for `timeoutMillis` fails the call with RESOURCE_EXHAUSTED. */
async function drained(call: ServerWritableStream<AnyMessage, AnyMessage>, signal: AbortSignal, timeoutMillis: number): Promise<void> {
  const timeout = AbortSignal.timeout(timeoutMillis);
  try {
    await once(call, "drain", { signal: AbortSignal.any([signal, timeout]) });
  } catch (err) {
    if (!timeout.aborted || signal.aborted) throw err;
    throw new LimitExceededError(
      `the client did not read this stream for ${timeoutMillis} ms while messages were waiting; the stream was closed so it cannot hold server memory (read faster, or resume from the last snaptoken received)`,
      { reason: "slow_consumer" },
    );
  }
}

function observe(observer: PlaneObserver | undefined, call: AnyCall, method: DescMethod): RpcObservation | undefined {
  return observer?.startRpc({
    protocol: "grpc",
    service: method.parent.typeName,
    method: method.name,
    parent: incomingContext(call.metadata, metadataGetter),
  });
}

/**
 * Records a call the client is no longer waiting for. Its deadline or a forced shutdown also cancel it;
 * the context's signal then says which.
 */
function endCancelled(observation: RpcObservation | undefined, signal: AbortSignal): void {
  const reason: unknown = signal.reason;
  observation?.end(reason instanceof ConnectError ? reason.code : Code.Canceled);
}

/**
 * The reason the signal carries once a call is over. Aborting releases the listeners connect links to the
 * shutdown signal; passing a reason made once avoids a DOMException (with its stack trace) per call, which
 * profiling showed among the top costs of a unary call.
 */
const CALL_ENDED = new ConnectError("the call has ended", Code.Canceled);

/** The reason the signal carries when the client cancels the call. */
const CLIENT_CANCELLED = new ConnectError("the client cancelled the call", Code.Canceled);

/** A HandlerContext that builds its signal, headers and values only when an implementation reads them. */
class LazyContext implements HandlerContext {
  readonly protocolName = "grpc";
  readonly requestMethod = "POST";
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;
  #timer: NodeJS.Timeout | undefined;
  #requestHeader: Headers | undefined;
  header: Headers | undefined;
  trailer: Headers | undefined;
  #values: ContextValues | undefined;
  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    private readonly call: AnyCall,
    private readonly path: string,
    private readonly deadline: number,
    private readonly shutdownSignal: AbortSignal | undefined,
    private readonly live: Set<LazyContext>,
  ) {}
  get url(): string {
    return `http://${this.call.getHost()}${this.path}`;
  }
  // A method on the prototype, not an arrow field: a closure per call is a measurable cost on this path.
  timeoutMs(): number | undefined {
    return Number.isFinite(this.deadline) ? Math.max(0, this.deadline - Date.now()) : undefined;
  }
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      if (this.#aborted) controller.abort(this.#reason);
      else if (this.shutdownSignal?.aborted === true) this.abort(this.shutdownSignal.reason);
      else {
        this.live.add(this);
        const left = this.timeoutMs();
        if (left !== undefined) this.#timer = setTimeout(() => this.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), left);
      }
    }
    return this.#controller.signal;
  }
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    if (this.#controller !== undefined) {
      clearTimeout(this.#timer);
      this.live.delete(this);
      this.#controller.abort(reason);
    }
  }
  get requestHeader(): Headers {
    return (this.#requestHeader ??= headersOf(this.call.metadata));
  }
  get responseHeader(): Headers {
    return (this.header ??= new Headers());
  }
  get responseTrailer(): Headers {
    return (this.trailer ??= new Headers());
  }
  get values(): ContextValues {
    return (this.#values ??= createContextValues());
  }
}

function contextOf(
  call: AnyCall,
  method: DescMethod,
  path: string,
  shutdownSignal: AbortSignal | undefined,
  live: Set<LazyContext>,
): { context: LazyContext; cancel: () => void } {
  const deadline = call.getDeadline();
  const deadlineMillis = deadline instanceof Date ? deadline.getTime() : deadline;
  const context = new LazyContext(method.parent, method, call, path, deadlineMillis, shutdownSignal, live);
  return { context, cancel: () => context.abort(CLIENT_CANCELLED) };
}

/**
 * What to report for a failed call: once the context's signal is aborted (deadline, shutdown), its reason
 * says why better than the AbortError an implementation or our drain wait throws in response.
 */
function failureOf(error: unknown, signal: AbortSignal): unknown {
  return signal.aborted && signal.reason !== undefined ? signal.reason : error;
}

function errorResponseOf(status: RpcStatus): ServerErrorResponse {
  return Object.assign(new Error(status.message), {
    code: status.code,
    details: status.message,
    metadata: metadataOf(status.metadata),
  });
}

function sendHeader(call: AnyCall, header: Headers): void {
  const metadata = metadataOf(header);
  if (Object.keys(metadata.getMap()).length > 0) call.sendMetadata(metadata);
}

/** Request metadata as Fetch `Headers`; binary (`-bin`) values are base64, as connect represents them. */
export function headersOf(metadata: Metadata): Headers {
  const headers = new Headers();
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) {
      headers.append(key, typeof value === "string" ? value : Buffer.from(value).toString("base64"));
    }
  }
  return headers;
}

/**
 * Fetch `Headers` as gRPC metadata. Keys gRPC reserves (`grpc-*`, pseudo-headers) or that metadata can't
 * hold are skipped: an implementation's header must not be able to break the call.
 */
export function metadataOf(headers: Headers): Metadata {
  const metadata = new Metadata();
  headers.forEach((value, key) => {
    if (key.startsWith("grpc-") || key.startsWith(":")) return;
    try {
      if (key.endsWith("-bin")) {
        for (const part of value.split(",")) metadata.add(key, Buffer.from(part.trim(), "base64"));
      } else {
        metadata.add(key, value);
      }
    } catch {
      // Not a valid metadata key or value; see the doc comment.
    }
  });
  return metadata;
}
