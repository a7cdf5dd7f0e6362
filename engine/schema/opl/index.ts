/**
 * The Ory Permission Language (OPL) front end: compiles Keto-compatible OPL text to the schema IR.
 * Cross-reference validation runs afterwards on the IR (`../validate.ts`), not here.
 */
import type { CompileResult, Diagnostic } from "../ir.js";
import { lexOpl } from "./lexer.js";
import { parseOplTokens } from "./parser.js";

export { EXPRESSION_NESTING_MAX_DEPTH } from "./parser.js";

/** Options of `parseOpl`. */
export interface OplOptions {
  /**
   * "keto" (default): binary operators fold left to right with equal precedence, as Keto does.
   * "typescript": && binds tighter than ||.
   */
  precedence?: "keto" | "typescript";
  /**
   * Keto's strict mode: only declared relations and subject types count, and permits hold no tuples.
   * Default false, Keto's own default (see `Schema.ketoNonStrict`).
   */
  strict?: boolean;
}

/**
 * Parses OPL text into a schema (`language: "opl"`, bare subject ids allowed). The schema is returned only
 * when no diagnostic is an error; all diagnostics (syntax errors, duplicate names, nesting, and precedence
 * warnings in Keto mode) come back sorted by position. Never throws.
 */
export function parseOpl(text: string, options: OplOptions = {}): CompileResult {
  const lexed = lexOpl(text);
  const parsed = parseOplTokens(lexed.tokens, options.precedence ?? "keto");
  const diagnostics: Diagnostic[] = [...lexed.diagnostics, ...parsed.diagnostics];
  // Stable sort: diagnostics at the same position keep the order in which they were found.
  diagnostics.sort((a, b) => a.start.line - b.start.line || a.start.column - b.start.column);
  const failed = diagnostics.some((d) => d.severity === "error");
  return {
    schema: failed
      ? undefined
      : {
          language: "opl",
          types: parsed.types,
          bareSubjectIds: true,
          ...(options.strict === true ? {} : { ketoNonStrict: true }),
        },
    diagnostics,
  };
}
