/**
 * `noop`: accepts every request without a subject (Oathkeeper's `noop`); being responsible, it ends the
 * authenticator chain.
 */
import { ConfigReader } from "../config-reader.js";
import type { HandlerFactory, PreparedAuthenticator } from "../types.js";
import { rejectUnknownKeys } from "./shared.js";

export function noopAuthenticator(): HandlerFactory<PreparedAuthenticator> {
  return {
    name: "noop",
    prepare(config, context) {
      rejectUnknownKeys(new ConfigReader(config, context.where), config, []);
      return {
        async authenticate() {
          // The session starts with subject "" and empty extra; there is nothing to add.
        },
      };
    },
  };
}
