/**
 * `bearer_token`: responsible when a token is found at `token_from` (default `Authorization: Bearer`) and
 * starts with `prefix`; asks `check_session_url` with the token as `Authorization: Bearer <token>` (plus the
 * forwarded headers) and reads the subject (default path `sub`) and extra from the answer.
 */
import { ConfigReader } from "../config-reader.js";
import type { PipelineDeps } from "../deps.js";
import { NotResponsibleError } from "../errors.js";
import type { HandlerFactory, PreparedAuthenticator } from "../types.js";
import { readSessionCheck, runSessionCheck, SESSION_CHECK_KEYS } from "./session-check.js";
import { rejectUnknownKeys } from "./shared.js";
import { readTokenLocation, tokenFromRequest } from "./token-from.js";

export function bearerTokenAuthenticator(deps: PipelineDeps): HandlerFactory<PreparedAuthenticator> {
  return {
    name: "bearer_token",
    prepare(config, context) {
      const reader = new ConfigReader(config, context.where);
      rejectUnknownKeys(reader, config, [...SESSION_CHECK_KEYS, "token_from", "prefix"]);
      const location = readTokenLocation(reader, config);
      const prefix = reader.string("prefix") ?? "";
      const check = readSessionCheck("bearer_token", reader, config, { subjectFrom: "sub", alwaysForward: "authorization" });
      return {
        async authenticate(request, session) {
          const token = tokenFromRequest(request, location);
          if (token === undefined || !token.startsWith(prefix)) throw new NotResponsibleError();
          await runSessionCheck(deps, check, request, session, { authorization: `Bearer ${token}` });
        },
      };
    },
  };
}
