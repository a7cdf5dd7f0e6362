/**
 * Observes each request of one plane: a span while it runs, then a count and a duration once it is done.
 * Both server stacks (grpc-js, connect-node) and the REST side report through this, so every protocol is
 * measured the same way.
 */
import type { IncomingMessage } from "node:http";
import { isSpanContextValid, type Context } from "@opentelemetry/api";
import { RouteLabels, type RpcProtocol, type ServerMetrics } from "./metrics.js";
import { endHttpSpan, endRpcSpan, incomingContext, nodeHeadersGetter, startHttpSpan, startRpcSpan } from "./tracing.js";

/** The gRPC status code names by number, as the `code` label and span status show them. */
const grpcCodeNames: readonly string[] = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** The name of a gRPC status code ("INVALID_ARGUMENT" for 3); unknown numbers stay numbers. */
export function grpcCodeName(code: number): string {
  return grpcCodeNames[code] ?? String(code);
}

/** The start of an RPC, as a server stack sees it. */
export interface RpcStart {
  protocol: Exclude<RpcProtocol, "rest">;
  /** The fully qualified service name, e.g. `ory.keto.relation_tuples.v1alpha2.CheckService`. */
  service: string;
  /** The method name as declared in the proto file, e.g. `Check`. */
  method: string;
  /** The context the call continues, from `incomingContext` over its headers or metadata. */
  parent: Context;
}

/** A running RPC. */
export interface RpcObservation {
  /** Run the call's work in this context, so spans it starts are children of the call's span. */
  readonly context: Context;
  /** Records the call's outcome; later calls are ignored, so racing completion paths can both call it. */
  end(code: number, message?: string): void;
}

/** A running plain HTTP request. */
export interface HttpObservation {
  readonly context: Context;
  /** False when the span records nothing and carries no trace to propagate (no tracer provider registered). */
  readonly traced: boolean;
  /**
   * Records the outcome once the response is done. `route` is what answered ("/relation-tuples/check"),
   * or undefined when nothing did; such paths are all counted as "other". Later calls are ignored.
   */
  end(route: string | undefined, status: number): void;
}

/** Observes the requests of one plane. */
export interface PlaneObserver {
  startRpc(start: RpcStart): RpcObservation;
  startHttp(req: IncomingMessage): HttpObservation;
}

/** Options for `createPlaneObserver`. */
export interface PlaneObserverOptions {
  /** The `plane` label: read, write, opl, … */
  plane: string;
  metrics: ServerMetrics;
  /** How many distinct REST routes get labels of their own before the rest count as "other". Default 100. */
  maxRoutes?: number;
}

/** Creates the observer of one plane. */
export function createPlaneObserver(options: PlaneObserverOptions): PlaneObserver {
  const { plane, metrics } = options;
  const routes = new RouteLabels(options.maxRoutes);
  return {
    startRpc({ protocol, service, method, parent }) {
      const started = performance.now();
      const { span, context } = startRpcSpan(protocol, service, method, parent);
      let ended = false;
      return {
        context,
        end(code, message) {
          if (ended) return;
          ended = true;
          const codeName = grpcCodeName(code);
          metrics.record({
            plane,
            protocol,
            method: `/${service}/${method}`,
            code: codeName,
            seconds: (performance.now() - started) / 1000,
          });
          endRpcSpan(span, code, codeName, message);
        },
      };
    },
    startHttp(req) {
      const started = performance.now();
      const httpMethod = req.method ?? "GET";
      const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
      const { span, context } = startHttpSpan(httpMethod, path, incomingContext(req.headers, nodeHeadersGetter));
      let ended = false;
      return {
        context,
        traced: span.isRecording() || isSpanContextValid(span.spanContext()),
        end(route, status) {
          if (ended) return;
          ended = true;
          const label = route === undefined ? "other" : routes.labelOf(`${httpMethod} ${route}`);
          metrics.record({ plane, protocol: "rest", method: label, code: String(status), seconds: (performance.now() - started) / 1000 });
          endHttpSpan(span, httpMethod, route, status);
        },
      };
    },
  };
}
