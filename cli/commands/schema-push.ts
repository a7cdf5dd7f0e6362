/**
 * `gatehouse schema push FILE`: stores the schema on the write endpoint (SchemaService.WriteSchema) and
 * prints its warnings. When the server rejects the schema, the same endpoint's ValidateSchema supplies the
 * errors as `file:line:col` lines, which the rejection's one-line message cannot give an editor.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { SchemaService } from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";
import { SchemaDiagnostic_Severity, SchemaLanguage } from "../../proto/gen/gatehouse/authz/v1/schema_pb.js";
import { commonOptions, commonUsage, parseCommandLine } from "../client/args.js";
import { withConnection } from "../client/connection.js";
import { ExitCode, runCommand, UsageError } from "../client/errors.js";
import { processIo, type ClientIo } from "../client/io.js";
import { formatSchemaDiagnostic, languageName, languageUsage, readSchemaFile, schemaDiagnosticJson, schemaLanguageOf } from "../client/schema-source.js";

const usage = `Usage: gatehouse schema push FILE [options]

Stores the schema (OPL or OpenFGA DSL) under a new revision and prints its warnings; a schema with errors is
rejected, nothing is stored, and the errors are printed as file:line:col lines.

Options:
${languageUsage}${commonUsage("write")}`;

/** Runs `gatehouse schema push`; returns the exit code. */
export async function runSchemaPush(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return runCommand("gatehouse schema push", io, async () => {
    const { values, positionals } = parseCommandLine(args, { ...commonOptions, language: { type: "string" } });
    if (values.help === true) {
      io.out(usage);
      return ExitCode.ok;
    }
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0) throw new UsageError("give exactly one schema file");
    const language = schemaLanguageOf(file, values.language);
    const text = readSchemaFile(file);
    return withConnection("write", values, io, async (c) => {
      const schema = c.client(SchemaService);
      try {
        const response = await schema.writeSchema({ text, language });
        const snaptoken = response.writtenAt?.token ?? "";
        if (values.json === true) {
          io.out(`${JSON.stringify({ written: true, snaptoken, warnings: response.warnings.map(schemaDiagnosticJson) })}\n`);
        } else {
          for (const w of response.warnings) io.err(`${formatSchemaDiagnostic(file, w)}\n`);
          io.out(`schema written from ${file}${language === SchemaLanguage.UNSPECIFIED ? "" : ` (${languageName(language)})`}\nsnaptoken: ${snaptoken}\n`);
        }
        return ExitCode.ok;
      } catch (err) {
        if (!(err instanceof ConnectError) || err.code !== Code.InvalidArgument) throw err;
        const validated = await schema.validateSchema({ text, language }).catch(() => undefined);
        const errors = validated?.diagnostics.filter((d) => d.severity === SchemaDiagnostic_Severity.ERROR) ?? [];
        if (validated === undefined || validated.valid || errors.length === 0) throw err;
        if (values.json === true) io.out(`${JSON.stringify({ written: false, diagnostics: errors.map(schemaDiagnosticJson) })}\n`);
        for (const d of errors) io.err(`${formatSchemaDiagnostic(file, d)}\n`);
        io.err(`gatehouse schema push: ${file} has ${errors.length} error${errors.length === 1 ? "" : "s"}; nothing was stored\n`);
        return ExitCode.requestFailed;
      }
    });
  });
}
