/**
 * The OpenFGA DSL front end (schema 1.1) → the schema IR. Conditions (`with`, `condition`) and modular
 * models (`module`, `extend type`) are reported as `unsupported` for now.
 */
import type { CompileResult } from "../ir.js";
import { FgaParser } from "./parser.js";

/**
 * Parses an OpenFGA DSL model. The schema is returned only when there is no error diagnostic; it has
 * `language: "fga"` and `bareSubjectIds: false` (every OpenFGA subject is typed). Cross-reference checks
 * (unknown types and relations, base cases) are `validateSchema`'s job, not this function's.
 */
export function parseFga(text: string): CompileResult {
  return new FgaParser(text).parse();
}
