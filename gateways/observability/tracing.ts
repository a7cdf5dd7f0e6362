/**
 * Server spans through the OpenTelemetry API only. The API is a no-op until the application registers a
 * tracer provider (and a propagator, for incoming `traceparent` headers to count), which is how a library
 * is meant to use it: Gatehouse decides what a span says, the application decides where spans go.
 *
 * Span names and attributes follow the semantic conventions: `<rpc.service>/<rpc.method>` for RPCs,
 * `<HTTP method> <http.route>` for REST (just the HTTP method while the route is unknown).
 */
import type { IncomingHttpHeaders } from "node:http";
import {
  SpanKind,
  SpanStatusCode,
  context as otelContext,
  propagation,
  trace,
  type Context,
  type Span,
  type TextMapGetter,
} from "@opentelemetry/api";
import type { Metadata } from "@grpc/grpc-js";
import type { RpcProtocol } from "./metrics.js";
import { packageVersion } from "../server/version.js";

/** The instrumentation scope Gatehouse's spans are reported under. */
export const tracerName = "gatehouse";

/** Reads propagation headers from Fetch `Headers` (Connect's request headers). */
export const fetchHeadersGetter: TextMapGetter<Headers> = {
  keys: (headers) => {
    const keys: string[] = [];
    headers.forEach((_value, key) => keys.push(key));
    return keys;
  },
  get: (headers, key) => headers.get(key) ?? undefined,
};

/** Reads propagation headers from a Node request's headers. */
export const nodeHeadersGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (headers) => Object.keys(headers),
  get: (headers, key) => headers[key.toLowerCase()],
};

/** Reads propagation headers from grpc-js request metadata (text values only; `-bin` ones can't be headers). */
export const metadataGetter: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key).filter((value): value is string => typeof value === "string");
    return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
  },
};

/** The context an incoming request continues: the caller's trace when its headers carry one. */
export function incomingContext<C>(carrier: C, getter: TextMapGetter<C>): Context {
  return propagation.extract(otelContext.active(), carrier, getter);
}

/** A started server span and the context to run the request's work in (so its spans become children). */
export interface StartedSpan {
  readonly span: Span;
  readonly context: Context;
}

/** Starts the SERVER span of an RPC. */
export function startRpcSpan(protocol: Exclude<RpcProtocol, "rest">, service: string, method: string, parent: Context): StartedSpan {
  const span = trace.getTracer(tracerName, packageVersion).startSpan(
    `${service}/${method}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        // gRPC-Web is gRPC framed for browsers; only the Connect protocol is a system of its own.
        "rpc.system": protocol === "connect" ? "connect_rpc" : "grpc",
        "rpc.service": service,
        "rpc.method": method,
      },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends an RPC span with its gRPC status code; anything but OK marks it as an error. */
export function endRpcSpan(span: Span, code: number, codeName: string, message: string | undefined): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: message === undefined ? codeName : `${codeName}: ${message}` });
  span.end();
}

/** Starts the SERVER span of a plain HTTP request; its name gets the route once one has answered. */
export function startHttpSpan(method: string, path: string, parent: Context): StartedSpan {
  const span = trace.getTracer(tracerName, packageVersion).startSpan(
    method,
    { kind: SpanKind.SERVER, attributes: { "http.request.method": method, "url.path": path } },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends an HTTP span; `route` is undefined when nothing answered the path (a 404). Errors are 4xx and 5xx. */
export function endHttpSpan(span: Span, method: string, route: string | undefined, status: number): void {
  if (route !== undefined) {
    span.setAttribute("http.route", route);
    span.updateName(`${method} ${route}`);
  }
  span.setAttribute("http.response.status_code", status);
  if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR, message: String(status) });
  span.end();
}
