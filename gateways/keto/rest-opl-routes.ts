/** Keto's OPL-port REST route (reference §1.2 row 12). */
import type { RestRoute } from "./rest-route.js";
import { readBody, sendJson } from "./rest-io.js";
import { oplParseErrors } from "./opl-syntax.js";

/** POST /opl/syntax/check: the raw body is OPL; 200 with its errors, positions keyed `Line` (sic) and `column`. */
function syntaxCheck(maxBodyBytes: number): RestRoute {
  return async (req, res) => {
    const text = (await readBody(req, maxBodyBytes)).toString("utf8");
    const errors = oplParseErrors(text).map((e) => ({
      message: e.message,
      // Keto's ParseError JSON capitalises `Line` but not `column` (reference §1.3); copied on purpose.
      start: { Line: e.start.line, column: e.start.column },
      end: { Line: e.end.line, column: e.end.column },
    }));
    sendJson(res, 200, { errors });
  };
}

/** The OPL routes by `METHOD path`. */
export function oplRoutes(maxBodyBytes: number): Map<string, RestRoute> {
  return new Map<string, RestRoute>([["POST /opl/syntax/check", syntaxCheck(maxBodyBytes)]]);
}
