/** `gatehouse schema push|get|validate`: dispatches to the sub-command. */
import { dispatchSubCommand } from "../client/dispatch.js";
import { processIo, type ClientIo } from "../client/io.js";

const usage = `Usage: gatehouse schema <push|get|validate> [options]

  push FILE              store the schema (write endpoint); prints its warnings
  get                    print the stored schema (read endpoint)
  validate FILE...       compile without storing (read endpoint); exit 1 with file:line:col diagnostics

See \`gatehouse schema <command> --help\`.
`;

/** Runs `gatehouse schema …`; returns the exit code. */
export function runSchema(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return dispatchSubCommand("schema", usage, {
    push: async () => (await import("./schema-push.js")).runSchemaPush,
    get: async () => (await import("./schema-get.js")).runSchemaGet,
    validate: async () => (await import("./schema-validate.js")).runSchemaValidate,
  }, args, io);
}
