/**
 * Oathkeeper's error handlers (`json`, `redirect`, `www_authenticate`): how a refused request is answered,
 * each chosen by its `when` clauses.
 */
import { GatehouseError, httpStatusOf, oryErrorBodyOf } from "../../../../common/errors.js";
import { ConfigReader } from "../config-reader.js";
import type { DenialResponse, HandlerFactory, PipelineRequest, PreparedErrorHandler } from "../types.js";
import { compileWhen } from "./when.js";

/** The Ory JSON error envelope; `verbose` adds the reason and details. */
export function jsonDenial(error: GatehouseError, verbose: boolean): DenialResponse {
  const body = oryErrorBodyOf(error);
  if (!verbose) {
    delete body.error.details;
    delete body.error.reason;
  }
  return {
    status: httpStatusOf(error),
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
    body: JSON.stringify(body),
  };
}

export const jsonErrorHandler: HandlerFactory<PreparedErrorHandler> = {
  name: "json",
  prepare(config, context) {
    const reader = new ConfigReader(config, context.where);
    const verbose = reader.boolean("verbose") ?? false;
    const matches = compileWhen(reader);
    return { matches, handle: (error) => jsonDenial(error, verbose) };
  },
};

export const redirectErrorHandler: HandlerFactory<PreparedErrorHandler> = {
  name: "redirect",
  prepare(config, context) {
    const reader = new ConfigReader(config, context.where);
    const to = reader.requiredUrl("to");
    const code = reader.number("code") ?? 302;
    if (code !== 301 && code !== 302 && code !== 303 && code !== 307 && code !== 308) {
      throw reader.error("code", `must be a redirect status (301, 302, 303, 307 or 308), got ${code}`);
    }
    const returnTo = reader.string("return_to_query_param");
    const matches = compileWhen(reader);
    return {
      matches,
      handle(_error, request: PipelineRequest) {
        const location = new URL(to);
        if (returnTo !== undefined && returnTo !== "") location.searchParams.set(returnTo, request.url.toString());
        return {
          status: code,
          headers: { location: location.toString(), "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
          body: `<a href="${escapeHtml(location.toString())}">${code === 301 || code === 308 ? "Moved Permanently" : "Found"}</a>.\n`,
        };
      },
    };
  },
};

export const wwwAuthenticateErrorHandler: HandlerFactory<PreparedErrorHandler> = {
  name: "www_authenticate",
  prepare(config, context) {
    const reader = new ConfigReader(config, context.where);
    const realm = reader.string("realm") ?? "Please authenticate.";
    if (/["\r\n\\]/.test(realm)) throw reader.error("realm", "must not contain quotes, backslashes or line breaks");
    const matches = compileWhen(reader);
    return {
      matches,
      handle(error) {
        const json = jsonDenial(error, false);
        return { status: 401, headers: { ...json.headers, "www-authenticate": `Basic realm="${realm}"` }, body: json.body };
      },
    };
  },
};

export const errorHandlerFactories: readonly HandlerFactory<PreparedErrorHandler>[] = [
  jsonErrorHandler,
  redirectErrorHandler,
  wwwAuthenticateErrorHandler,
];

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
