/**
 * `gatehouse schema validate FILE...`: compiles schema files on the server (SchemaService.ValidateSchema,
 * read endpoint) without storing them, so the check uses exactly the server's compiler and settings.
 * Prints every diagnostic as `file:line:col: severity: message`; exit 1 when any file has errors.
 */
import { SchemaService } from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";
import { SchemaDiagnostic_Severity } from "../../proto/gen/gatehouse/authz/v1/schema_pb.js";
import { commonOptions, commonUsage, parseCommandLine } from "../client/args.js";
import { withConnection } from "../client/connection.js";
import { ExitCode, runCommand, UsageError } from "../client/errors.js";
import { processIo, type ClientIo } from "../client/io.js";
import { formatSchemaDiagnostic, languageName, languageUsage, readSchemaFile, schemaDiagnosticJson, schemaLanguageOf } from "../client/schema-source.js";

const usage = `Usage: gatehouse schema validate FILE... [options]

Compiles each schema on the server without storing it; prints its diagnostics as file:line:col lines.
Exit 0 when every file is valid (warnings allowed), 1 when any has errors.

Options:
${languageUsage}${commonUsage("read")}`;

/** Runs `gatehouse schema validate`; returns the exit code. */
export async function runSchemaValidate(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return runCommand("gatehouse schema validate", io, async () => {
    const { values, positionals } = parseCommandLine(args, { ...commonOptions, language: { type: "string" } });
    if (values.help === true) {
      io.out(usage);
      return ExitCode.ok;
    }
    if (positionals.length === 0) throw new UsageError("give at least one schema file");
    // Read every file first: a missing one is a usage error before any request is made.
    const sources = positionals.map((file) => ({ file, text: readSchemaFile(file), language: schemaLanguageOf(file, values.language) }));
    let invalid = 0;
    const results: Record<string, unknown>[] = [];
    await withConnection("read", values, io, async (c) => {
      const schema = c.client(SchemaService);
      for (const { file, text, language } of sources) {
        const response = await schema.validateSchema({ text, language });
        if (!response.valid) invalid += 1;
        if (values.json === true) {
          results.push({ file, valid: response.valid, language: languageName(response.language), diagnostics: response.diagnostics.map(schemaDiagnosticJson) });
          continue;
        }
        for (const d of response.diagnostics) io.out(`${formatSchemaDiagnostic(file, d)}\n`);
        const errors = response.diagnostics.filter((d) => d.severity === SchemaDiagnostic_Severity.ERROR).length;
        io.out(response.valid ? `${file}: valid (${languageName(response.language)})\n` : `${file}: invalid, ${errors} error${errors === 1 ? "" : "s"}\n`);
      }
    });
    if (values.json === true) io.out(`${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`);
    return invalid > 0 ? ExitCode.requestFailed : ExitCode.ok;
  });
}
