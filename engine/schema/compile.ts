import type { CompileResult, Diagnostic, SchemaLanguage } from "./ir.js";
import { detectSchemaLanguage } from "./detect-language.js";
import { parseFga } from "./fga/index.js";
import { parseOpl } from "./opl/index.js";
import { validateSchema } from "./validate.js";

/** Options of `compileSchema`. */
export interface CompileOptions {
  /** The schema language; detected from the text when absent. */
  language?: SchemaLanguage;
  /** OPL only: `keto` (default) folds `||`/`&&` left to right as Keto does; `typescript` uses TS precedence. */
  oplPrecedence?: "keto" | "typescript";
  /** OPL only: Keto's strict mode (default false, Keto's non-strict default). */
  oplStrict?: boolean;
}

/**
 * Parses and validates a schema in OPL or the OpenFGA DSL. The result carries the schema only when there is
 * no error; every diagnostic (errors and warnings) is returned, sorted by position.
 */
export function compileSchema(text: string, options: CompileOptions = {}): CompileResult & { language: SchemaLanguage } {
  const language = options.language ?? detectSchemaLanguage(text);
  const parsed =
    language === "fga"
      ? parseFga(text)
      : parseOpl(text, {
          ...(options.oplPrecedence === undefined ? {} : { precedence: options.oplPrecedence }),
          ...(options.oplStrict === undefined ? {} : { strict: options.oplStrict }),
        });
  const diagnostics: Diagnostic[] = [...parsed.diagnostics];
  if (parsed.schema !== undefined) diagnostics.push(...validateSchema(parsed.schema));
  diagnostics.sort((a, b) => a.start.line - b.start.line || a.start.column - b.start.column);
  const failed = diagnostics.some((d) => d.severity === "error");
  return { schema: failed ? undefined : parsed.schema, diagnostics, language };
}

/** Formats a diagnostic as `line:column: severity: message [construct]`. */
export function formatDiagnostic(d: Diagnostic, file?: string): string {
  const where = `${d.start.line}:${d.start.column}`;
  return `${file === undefined ? "" : `${file}:`}${where}: ${d.severity}: ${d.message} [${d.construct}]`;
}
