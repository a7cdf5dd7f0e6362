/**
 * `anonymous`: responsible only for requests without an `Authorization` header, which it lets through as
 * `config.subject` (default "anonymous").
 */
import { ConfigReader } from "../config-reader.js";
import { NotResponsibleError } from "../errors.js";
import type { HandlerFactory, PreparedAuthenticator } from "../types.js";
import { headerValue, rejectUnknownKeys } from "./shared.js";

export function anonymousAuthenticator(): HandlerFactory<PreparedAuthenticator> {
  return {
    name: "anonymous",
    prepare(config, context) {
      const reader = new ConfigReader(config, context.where);
      rejectUnknownKeys(reader, config, ["subject"]);
      const subject = reader.string("subject") || "anonymous";
      return {
        async authenticate(request, session) {
          const authorization = headerValue(request.headers, "authorization");
          if (authorization !== undefined && authorization !== "") throw new NotResponsibleError();
          session.subject = subject;
        },
      };
    },
  };
}
