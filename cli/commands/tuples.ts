/** `gatehouse tuples create|delete|list`: dispatches to the sub-command. */
import { dispatchSubCommand } from "../client/dispatch.js";
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
export function runTuples(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return dispatchSubCommand("tuples", usage, {
    create: async () => (await import("./tuples-create.js")).runTuplesCreate,
    delete: async () => (await import("./tuples-delete.js")).runTuplesDelete,
    list: async () => (await import("./tuples-list.js")).runTuplesList,
  }, args, io);
}
