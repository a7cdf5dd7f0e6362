/** Keto's OPL syntax check: the error diagnostics of a schema text, with positions (REST and gRPC). */
import { compileSchema } from "../../engine/schema/compile.js";

/** A position in the checked text; 1-based, as the engine reports it. */
export interface OplPosition {
  line: number;
  column: number;
}

/** One error of an OPL text. */
export interface OplParseError {
  message: string;
  start: OplPosition;
  end: OplPosition;
}

/**
 * The errors (not warnings: Keto's check reports parse errors only) of `text` compiled as OPL. Positions
 * are 1-based like the engine's diagnostics; Keto's own base is UNVERIFIED. A diagnostic without an end
 * ends where it starts.
 */
export function oplParseErrors(text: string): OplParseError[] {
  const { diagnostics } = compileSchema(text, { language: "opl" });
  return diagnostics
    .filter((d) => d.severity === "error")
    .map((d) => ({
      message: d.message,
      start: { line: d.start.line, column: d.start.column },
      end: { line: (d.end ?? d.start).line, column: (d.end ?? d.start).column },
    }));
}
