/** Schema files for `schema push` / `schema validate`: their text, their language and their diagnostics. */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { SchemaDiagnostic_Severity, SchemaLanguage, type SchemaDiagnostic } from "../../proto/gen/gatehouse/authz/v1/schema_pb.js";
import { UsageError } from "./errors.js";

/** Usage line of `--language`. */
export const languageUsage = "  --language opl|fga     the schema language (default: by extension, .ts/.opl = OPL, .fga = OpenFGA; else detected)\n";

/**
 * The language of a schema file: `--language` when given, else by extension (the extensions `serve` uses),
 * else UNSPECIFIED, which lets the server detect it from the text.
 */
export function schemaLanguageOf(path: string, flag: string | undefined): SchemaLanguage {
  if (flag !== undefined) {
    switch (flag.toLowerCase()) {
      case "opl":
        return SchemaLanguage.OPL;
      case "fga":
      case "openfga":
        return SchemaLanguage.FGA;
      default:
        throw new UsageError(`--language must be opl or fga, got "${flag}"`);
    }
  }
  const ext = extname(path).toLowerCase();
  if (ext === ".ts" || ext === ".opl") return SchemaLanguage.OPL;
  if (ext === ".fga") return SchemaLanguage.FGA;
  return SchemaLanguage.UNSPECIFIED;
}

/** The name of a language for output: `opl`, `fga` or `unspecified`. */
export function languageName(language: SchemaLanguage): string {
  return language === SchemaLanguage.OPL ? "opl" : language === SchemaLanguage.FGA ? "fga" : "unspecified";
}

/** Reads a schema file; an unreadable one is a `UsageError`. */
export function readSchemaFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** `file:line:col: severity: message [construct]`, the form editors and `serve` use. */
export function formatSchemaDiagnostic(file: string, d: SchemaDiagnostic): string {
  const severity = d.severity === SchemaDiagnostic_Severity.ERROR ? "error" : "warning";
  const construct = d.construct === "" ? "" : ` [${d.construct}]`;
  return `${file}:${d.start?.line ?? 0}:${d.start?.column ?? 0}: ${severity}: ${d.message}${construct}`;
}

/** A diagnostic as plain JSON. */
export function schemaDiagnosticJson(d: SchemaDiagnostic): Record<string, unknown> {
  return {
    severity: d.severity === SchemaDiagnostic_Severity.ERROR ? "error" : "warning",
    message: d.message,
    line: d.start?.line ?? 0,
    column: d.start?.column ?? 0,
    ...(d.end === undefined ? {} : { end_line: d.end.line, end_column: d.end.column }),
    construct: d.construct,
  };
}
