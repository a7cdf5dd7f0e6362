/** `gatehouse schema push|get|validate`: dispatches to the sub-command. */
import { ExitCode } from "../client/errors.js";
import { processIo, type ClientIo } from "../client/io.js";

const usage = `Usage: gatehouse schema <push|get|validate> [options]

  push FILE              store the schema (write endpoint); prints its warnings
  get                    print the stored schema (read endpoint)
  validate FILE...       compile without storing (read endpoint); exit 1 with file:line:col diagnostics

See \`gatehouse schema <command> --help\`.
`;

/** Runs `gatehouse schema …`; returns the exit code. */
export async function runSchema(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "push":
      return (await import("./schema-push.js")).runSchemaPush(rest, io);
    case "get":
      return (await import("./schema-get.js")).runSchemaGet(rest, io);
    case "validate":
      return (await import("./schema-validate.js")).runSchemaValidate(rest, io);
    case "help":
    case "--help":
    case "-h":
      io.out(usage);
      return ExitCode.ok;
    default:
      io.err(command === undefined ? usage : `gatehouse schema: unknown command "${command}"\n\n${usage}`);
      return ExitCode.usage;
  }
}
