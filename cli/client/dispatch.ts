/** Dispatch of `gatehouse <group> <sub-command>` (tuples, schema): one place for help and unknown commands. */
import { ExitCode } from "./errors.js";
import type { ClientIo } from "./io.js";

/** A sub-command: loaded lazily so each pays only for the modules it uses. */
export type SubCommand = (args: readonly string[], io: ClientIo) => Promise<number>;

/** Runs the sub-command named by `args[0]`, or prints `usage` (exit 0 for help, 2 otherwise). */
export async function dispatchSubCommand(
  group: string,
  usage: string,
  commands: Readonly<Record<string, () => Promise<SubCommand>>>,
  args: readonly string[],
  io: ClientIo,
): Promise<number> {
  const [command, ...rest] = args;
  if (command === "help" || command === "--help" || command === "-h") {
    io.out(usage);
    return ExitCode.ok;
  }
  // Own keys only: "constructor" or "toString" must not resolve through the prototype.
  const load = command !== undefined && Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (load === undefined) {
    io.err(command === undefined ? usage : `gatehouse ${group}: unknown command "${command}"\n\n${usage}`);
    return ExitCode.usage;
  }
  return (await load())(rest, io);
}
