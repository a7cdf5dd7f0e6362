/** `gatehouse tuples create|delete|list`: dispatches to the sub-command. */
import { ExitCode } from "../client/errors.js";
import { processIo, type ClientIo } from "../client/io.js";

const usage = `Usage: gatehouse tuples <create|delete|list> [options]

  create TUPLE... | -f FILE_OR_DIR...   write tuples (write endpoint)
  delete TUPLE... | -f FILE... | --namespace … [--object …] [--relation …] [--subject …]
                                        delete tuples, or every tuple matching a filter (write endpoint)
  list [--namespace …] [--object …] [--relation …] [--subject …] [--all]
                                        list stored tuples (read endpoint)

See \`gatehouse tuples <command> --help\`.
`;

/** Runs `gatehouse tuples …`; returns the exit code. */
export async function runTuples(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "create":
      return (await import("./tuples-create.js")).runTuplesCreate(rest, io);
    case "delete":
      return (await import("./tuples-delete.js")).runTuplesDelete(rest, io);
    case "list":
      return (await import("./tuples-list.js")).runTuplesList(rest, io);
    case "help":
    case "--help":
    case "-h":
      io.out(usage);
      return ExitCode.ok;
    default:
      io.err(command === undefined ? usage : `gatehouse tuples: unknown command "${command}"\n\n${usage}`);
      return ExitCode.usage;
  }
}
