/**
 * `cookie_session`: responsible when the request carries cookies (with `only`, one of those cookies); asks
 * `check_session_url` (a Kratos `/sessions/whoami`, say) with the request's cookies and reads the subject and
 * extra from the answer. See session-check.ts for the request it sends.
 */
import { ConfigReader } from "../config-reader.js";
import type { PipelineDeps } from "../deps.js";
import { NotResponsibleError } from "../errors.js";
import type { HandlerFactory, PreparedAuthenticator } from "../types.js";
import { readSessionCheck, runSessionCheck, SESSION_CHECK_KEYS } from "./session-check.js";
import { parseCookies, rejectUnknownKeys } from "./shared.js";

export function cookieSessionAuthenticator(deps: PipelineDeps): HandlerFactory<PreparedAuthenticator> {
  return {
    name: "cookie_session",
    prepare(config, context) {
      const reader = new ConfigReader(config, context.where);
      rejectUnknownKeys(reader, config, [...SESSION_CHECK_KEYS, "only"]);
      const only = reader.stringList("only") ?? [];
      const check = readSessionCheck("cookie_session", reader, config, { subjectFrom: "subject", alwaysForward: "cookie" });
      return {
        async authenticate(request, session) {
          const cookies = parseCookies(request.headers);
          const responsible = only.length === 0 ? cookies.size > 0 : only.some((name) => cookies.has(name));
          if (!responsible) throw new NotResponsibleError();
          await runSessionCheck(deps, check, request, session);
        },
      };
    },
  };
}
