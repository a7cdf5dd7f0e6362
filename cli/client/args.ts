/**
 * Command-line parsing shared by the client commands: the common flags, the read flags (consistency,
 * snaptoken, depth) and their validation. Every malformed value is a `UsageError` (exit 2).
 */
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { ConsistencySchema, type Consistency } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { UsageError } from "./errors.js";

/** Flags every client command takes. */
export const commonOptions = {
  endpoint: { type: "string" },
  "api-key": { type: "string" },
  json: { type: "boolean" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Flags of the commands that evaluate the graph (check, expand). */
export const evaluationOptions = {
  consistency: { type: "string" },
  snaptoken: { type: "string" },
  "max-depth": { type: "string" },
} as const;

/** Usage lines for `commonOptions`, for the commands' help texts. */
export function commonUsage(plane: "read" | "write"): string {
  const port = plane === "read" ? 4466 : 4467;
  const env = plane === "read" ? "GATEHOUSE_READ_ENDPOINT" : "GATEHOUSE_WRITE_ENDPOINT";
  return `  --endpoint HOST:PORT   the ${plane} endpoint (default $${env}, else 127.0.0.1:${port}); http(s)://… URLs too
  --api-key KEY          sent as \`Authorization: Bearer KEY\` (default $GATEHOUSE_API_KEY)
  --timeout SECONDS      per request (default 30)
  --json                 machine-readable output
`;
}

/** Usage lines for `evaluationOptions`. */
export const evaluationUsage = `  --consistency MODE     fully-consistent (default), minimize-latency, at-least-as-fresh, at-exact-snapshot
  --snaptoken TOKEN      the revision for at-least-as-fresh (implied when only --snaptoken is given) or at-exact-snapshot
  --max-depth N          the resolution depth (default: the server's limit)
`;

/** Parses a command line with `parseArgs` (strict, positionals allowed); a malformed one is a `UsageError`. */
export function parseCommandLine<const O extends NonNullable<Parameters<typeof parseArgs>[0]>["options"] & object>(
  args: readonly string[],
  options: O,
) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A whole number from `min` to `max`, or undefined when the flag is absent. */
export function parseIntFlag(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === "" ? Number.NaN : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag} expects a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

const consistencyModes = {
  "minimize-latency": "minimizeLatency",
  "fully-consistent": "fullyConsistent",
  full: "fullyConsistent",
  "at-least-as-fresh": "atLeastAsFresh",
  "at-exact-snapshot": "atExactSnapshot",
  exact: "atExactSnapshot",
} as const;

/**
 * The Consistency message of `--consistency` / `--snaptoken`. A snaptoken alone means at-least-as-fresh
 * (read your writes); neither flag means fully consistent: a person at a terminal expects to see what they
 * just wrote, and one request can afford it (the server's default, minimize_latency, may trail by seconds).
 */
export function parseConsistency(mode: string | undefined, snaptoken: string | undefined): Consistency {
  if (mode === undefined) {
    return snaptoken === undefined
      ? create(ConsistencySchema, { requirement: { case: "fullyConsistent", value: true } })
      : create(ConsistencySchema, { requirement: { case: "atLeastAsFresh", value: { token: snaptoken } } });
  }
  const kind = consistencyModes[mode.toLowerCase().replaceAll("_", "-") as keyof typeof consistencyModes] as
    | (typeof consistencyModes)[keyof typeof consistencyModes]
    | undefined;
  switch (kind) {
    case undefined:
      throw new UsageError(`--consistency must be one of ${Object.keys(consistencyModes).join(", ")}; got "${mode}"`);
    case "minimizeLatency":
    case "fullyConsistent":
      if (snaptoken !== undefined) throw new UsageError(`--snaptoken goes with at-least-as-fresh or at-exact-snapshot, not ${mode}`);
      return create(ConsistencySchema, { requirement: { case: kind, value: true } });
    case "atLeastAsFresh":
    case "atExactSnapshot":
      if (snaptoken === undefined || snaptoken === "") throw new UsageError(`--consistency ${mode} needs --snaptoken TOKEN`);
      return create(ConsistencySchema, { requirement: { case: kind, value: { token: snaptoken } } });
  }
}

/** The request fields of `evaluationOptions`: consistency (if any) and max_depth (0 = the server's limit). */
export function evaluationFields(values: { consistency?: string; snaptoken?: string; "max-depth"?: string }): {
  consistency?: Consistency;
  maxDepth: number;
} {
  const consistency = parseConsistency(values.consistency, values.snaptoken);
  const maxDepth = parseIntFlag(values["max-depth"], "max-depth", 1, 2 ** 31 - 1) ?? 0;
  return { consistency, maxDepth };
}
