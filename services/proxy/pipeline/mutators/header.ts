/**
 * Oathkeeper's `header` mutator: sets headers on the forwarded request from Go templates over the session
 * (`headers: { X-User: "{{ print .Subject }}" }`). The templates compile when the rule loads; a rendered value
 * that would split or corrupt the header (CR, LF, NUL, other control characters) fails the request instead of
 * being forwarded.
 */
import { InternalError } from "../../../../common/errors.js";
import { ConfigReader } from "../config-reader.js";
import { compileTemplate, templateDataOf, type CompiledTemplate } from "../template.js";
import type { AuthenticationSession, HandlerFactory, PrepareContext, PreparedMutator } from "../types.js";

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** An RFC 9110 token (header names, cookie names). */
export function isHttpToken(name: string): boolean {
  if (name === "") return false;
  for (const ch of name) if (!TOKEN_CHARS.includes(ch)) return false;
  return true;
}

/** Whether a header value carries a control character (CR/LF would inject headers, NUL truncates). Tab is allowed. */
export function hasHeaderControlChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/**
 * Sets `name` in the session's outgoing headers, dropping any entry that differs only in case so a later
 * mutator replaces an earlier one rather than sending both.
 */
export function setSessionHeader(session: AuthenticationSession, name: string, value: string): void {
  const lower = name.toLowerCase();
  for (const existing of Object.keys(session.header)) {
    if (existing !== name && existing.toLowerCase() === lower) delete session.header[existing];
  }
  session.header[name] = value;
}

interface HeaderTemplate {
  readonly name: string;
  readonly template: CompiledTemplate;
}

export const headerMutator: HandlerFactory<PreparedMutator> = Object.freeze({
  name: "header",
  prepare(config: Readonly<Record<string, unknown>>, context: PrepareContext): PreparedMutator {
    const reader = new ConfigReader(config, context.where);
    const headers = reader.stringMap("headers");
    if (headers === undefined) throw reader.error("headers", "is required");
    const templates: HeaderTemplate[] = Object.entries(headers).map(([name, source]) => {
      if (!isHttpToken(name)) throw reader.error(`headers.${name}`, "is not a valid header name");
      return { name, template: compileTemplate(source, `${context.where}: config.headers.${name}`) };
    });
    const where = context.where;
    return {
      async mutate(_request, session): Promise<void> {
        if (templates.length === 0) return;
        const data = templateDataOf(session);
        // Render all before setting any, so a refused value leaves the session untouched.
        const values = templates.map(({ name, template }) => {
          const value = template.render(data);
          if (hasHeaderControlChar(value)) {
            throw new InternalError(`${where}: the value rendered for header "${name}" contains CR, LF, NUL or another control character; refusing to forward it`, {
              reason: "invalid_header_value",
              details: { field: `config.headers.${name}` },
            });
          }
          return value;
        });
        templates.forEach(({ name }, i) => setSessionHeader(session, name, values[i] as string));
      },
    };
  },
});
