/**
 * The client commands' failure kinds and exit codes, and the one place that turns a failure into a line on
 * stderr: a usage error (bad flags, arguments or input files) exits 2, a request the server refused or
 * could not receive exits 1.
 */
import { InvalidArgumentError } from "../../common/errors.js";
import type { ClientIo } from "./io.js";

/** Exit codes shared by every client command. */
export const ExitCode = {
  ok: 0,
  /** The server refused the request, or could not be reached. */
  requestFailed: 1,
  /** The command line or an input file is malformed. */
  usage: 2,
  /** `check --exit-code`: the answer is "denied". */
  denied: 3,
} as const;

/** The command line or an input file is malformed; the message says what to change. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A request failed; the message is complete (server message, or why the endpoint is unreachable). */
export class RequestError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RequestError";
  }
}

/**
 * Runs a command body and maps its failures to exit codes and stderr lines prefixed with the command's
 * name. Anything else is a bug and propagates.
 */
export async function runCommand(name: string, io: ClientIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError || err instanceof InvalidArgumentError) {
      // InvalidArgumentError comes from the tuple parser: a malformed tuple on the command line or in a file.
      io.err(`${name}: ${err.message}\n(see ${name} --help)\n`);
      return ExitCode.usage;
    }
    if (err instanceof RequestError) {
      io.err(`${name}: ${err.message}\n`);
      return ExitCode.requestFailed;
    }
    throw err;
  }
}
