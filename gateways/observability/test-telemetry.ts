/**
 * Test helpers: a tracer provider and a W3C `traceparent` propagator that record in memory, built on the
 * OpenTelemetry API alone (no SDK), and a parser for the Prometheus text format.
 */
import { randomBytes } from "node:crypto";
import {
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Span,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";

/** A span as the recording provider keeps it. */
export interface RecordedSpan {
  name: string;
  kind: SpanKind | undefined;
  attributes: Record<string, AttributeValue>;
  status: SpanStatus | undefined;
  context: SpanContext;
  /** The span context of the parent, when the span had one. */
  parent: SpanContext | undefined;
  ended: boolean;
}

/** A tracer provider that records every span it starts, in `spans`. */
export class RecordingTracerProvider implements TracerProvider {
  readonly spans: RecordedSpan[] = [];

  getTracer(): Tracer {
    const spans = this.spans;
    const startSpan = (name: string, options: SpanOptions = {}, parentContext?: Context): Span => {
      const parent = parentContext === undefined ? undefined : trace.getSpanContext(parentContext);
      const record: RecordedSpan = {
        name,
        kind: options.kind,
        attributes: { ...options.attributes } as Record<string, AttributeValue>,
        status: undefined,
        context: {
          traceId: parent?.traceId ?? randomBytes(16).toString("hex"),
          spanId: randomBytes(8).toString("hex"),
          traceFlags: 1,
        },
        parent,
        ended: false,
      };
      spans.push(record);
      return recordingSpan(record);
    };
    return {
      startSpan,
      startActiveSpan: (() => {
        throw new Error("startActiveSpan is not used by Gatehouse");
      }) as Tracer["startActiveSpan"],
    };
  }
}

function recordingSpan(record: RecordedSpan): Span {
  const span: Span = {
    spanContext: () => record.context,
    setAttribute(key: string, value: AttributeValue) {
      record.attributes[key] = value;
      return span;
    },
    setAttributes(attributes: Attributes) {
      Object.assign(record.attributes, attributes);
      return span;
    },
    addEvent: () => span,
    addLink: () => span,
    addLinks: () => span,
    setStatus(status: SpanStatus) {
      record.status = status;
      return span;
    },
    updateName(name: string) {
      record.name = name;
      return span;
    },
    end() {
      record.ended = true;
    },
    isRecording: () => !record.ended,
    recordException: () => {},
  };
  return span;
}

/** Extracts W3C `traceparent` headers (version 00); injection isn't needed on a server. */
export const traceparentPropagator: TextMapPropagator = {
  inject() {},
  extract(context, carrier, getter) {
    const raw = getter.get(carrier, "traceparent");
    const value = Array.isArray(raw) ? raw[0] : raw;
    const match = value === undefined ? null : /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value);
    if (match === null) return context;
    const [, traceId = "", spanId = "", flags = "00"] = match;
    return trace.setSpanContext(context, { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true });
  },
  fields: () => ["traceparent"],
};

/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (the subset prom-client writes). */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (match === null) throw new Error(`unparsable sample line: ${line}`);
    const [, name = "", labelText = "", value = ""] = match;
    const labels: Record<string, string> = {};
    for (const [, key = "", raw = ""] of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name, labels, value: Number(value) });
  }
  return samples;
}

/** The value of the one sample with this name whose labels include `labels`; undefined when there is none. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
