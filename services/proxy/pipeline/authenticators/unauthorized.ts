/** `unauthorized`: refuses every request with 401 (a rule's explicit "no one gets in"). */
import { ConfigReader } from "../config-reader.js";
import { UnauthorizedError } from "../errors.js";
import type { HandlerFactory, PreparedAuthenticator } from "../types.js";
import { rejectUnknownKeys } from "./shared.js";

export function unauthorizedAuthenticator(): HandlerFactory<PreparedAuthenticator> {
  return {
    name: "unauthorized",
    prepare(config, context) {
      rejectUnknownKeys(new ConfigReader(config, context.where), config, []);
      return {
        async authenticate() {
          throw new UnauthorizedError("Access credentials are invalid", { reason: "unauthorized_authenticator" });
        },
      };
    },
  };
}
