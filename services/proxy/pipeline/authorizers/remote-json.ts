/**
 * Oathkeeper's `remote_json` authorizer: POSTs a JSON document rendered from the session to a decision
 * service. 200 allows, 403 refuses, anything else is the service failing (500, naming the URL and status).
 *
 * As in Oathkeeper, the request's `Authorization` header goes along (decision services often need the
 * caller's token), `headers` add templated headers (an empty rendering sends none), and on allow the
 * `forward_response_headers_to_upstream` headers of the answer are copied to the forwarded request.
 */
import { ConfigReader } from "../config-reader.js";
import type { PipelineDeps } from "../deps.js";
import { ForbiddenError, UpstreamServiceError } from "../errors.js";
import { describeUrl } from "../outbound-http.js";
import { compileTemplate, templateDataOf, TemplateExecutionError, type CompiledTemplate } from "../template.js";
import type { HandlerFactory, PreparedAuthorizer } from "../types.js";
import { readRetryPolicy, sendWithRetry } from "../retry.js";

/** An HTTP header name (RFC 9110 token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function firstValue(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === "string" ? value : value?.[0];
}

export function remoteJsonAuthorizer(deps: PipelineDeps): HandlerFactory<PreparedAuthorizer> {
  return {
    name: "remote_json",
    prepare(config, context) {
      const reader = new ConfigReader(config, context.where);
      const where = context.where;
      const remote = reader.requiredUrl("remote");
      const payload = compileTemplate(reader.requiredString("payload"), `${where}: config.payload`);
      const headers: [string, CompiledTemplate][] = Object.entries(reader.stringMap("headers") ?? {}).map(([name, source]) => {
        if (!HEADER_NAME.test(name)) throw reader.error(`headers.${name}`, "is not a valid header name");
        return [name, compileTemplate(source, `${where}: config.headers.${name}`)];
      });
      const forwarded = reader.stringList("forward_response_headers_to_upstream") ?? [];
      for (const [i, name] of forwarded.entries()) {
        if (!HEADER_NAME.test(name)) throw reader.error(`forward_response_headers_to_upstream[${i}]`, `${JSON.stringify(name)} is not a valid header name`);
      }
      const retry = readRetryPolicy(reader);
      const target = describeUrl(remote);

      return {
        async authorize(request, session) {
          const data = templateDataOf(session);
          const body = payload.render(data);
          try {
            JSON.parse(body);
          } catch {
            // The rule's template produced it, so this is the rule's fault, not the client's.
            throw new TemplateExecutionError(`${where}: config.payload`, "did not render to a JSON text", { reason: "template_not_json" });
          }
          const outgoing: Record<string, string> = { "content-type": "application/json" };
          const authorization = firstValue(request.headers.authorization);
          if (authorization !== undefined && authorization !== "") outgoing.authorization = authorization;
          for (const [name, template] of headers) {
            const value = template.render(data);
            if (value !== "") outgoing[name.toLowerCase()] = value;
          }
          const res = await sendWithRetry(deps.http, { method: "POST", url: remote, headers: outgoing, body }, retry);
          if (res.status === 403) throw new ForbiddenError();
          if (res.status !== 200) {
            throw new UpstreamServiceError(`${where}: ${target} answered ${res.status}, expected 200 or 403`, {
              reason: "upstream_unexpected_status",
              details: { status: res.status },
            });
          }
          for (const name of forwarded) {
            const value = res.headers[name.toLowerCase()];
            // An absent header is not forwarded as an empty one (Oathkeeper sets it empty).
            if (value === undefined) continue;
            session.header[name] = typeof value === "string" ? value : value.join(", ");
          }
        },
      };
    },
  };
}
