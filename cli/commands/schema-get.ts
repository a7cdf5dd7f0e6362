/**
 * `gatehouse schema get`: prints the stored schema exactly as written (so `schema get > file` round-trips),
 * from the read endpoint (SchemaService.ReadSchema).
 */
import { SchemaService } from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";
import { commonOptions, commonUsage, parseCommandLine } from "../client/args.js";
import { withConnection } from "../client/connection.js";
import { ExitCode, runCommand, UsageError } from "../client/errors.js";
import { processIo, type ClientIo } from "../client/io.js";
import { languageName } from "../client/schema-source.js";

const usage = `Usage: gatehouse schema get [options]

Prints the stored schema as it was written. With --json: {"text", "language", "snaptoken"}.

Options:
${commonUsage("read")}`;

/** Runs `gatehouse schema get`; returns the exit code. */
export async function runSchemaGet(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return runCommand("gatehouse schema get", io, async () => {
    const { values, positionals } = parseCommandLine(args, commonOptions);
    if (values.help === true) {
      io.out(usage);
      return ExitCode.ok;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0] ?? ""}"`);
    const response = await withConnection("read", values, io, (c) => c.client(SchemaService).readSchema({}));
    if (values.json === true) {
      io.out(`${JSON.stringify({ text: response.text, language: languageName(response.language), snaptoken: response.readAt?.token ?? "" })}\n`);
    } else {
      io.out(response.text.endsWith("\n") || response.text === "" ? response.text : `${response.text}\n`);
    }
    return ExitCode.ok;
  });
}
