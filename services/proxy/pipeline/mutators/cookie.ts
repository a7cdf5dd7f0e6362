/**
 * Oathkeeper's `cookie` mutator: replaces the forwarded request's `Cookie` header with the configured cookies
 * (Go templates over the session) followed by the request's own cookies that the rule does not set.
 * Cookie names are checked when the rule loads; a rendered value a Cookie header cannot carry fails the request.
 */
import { InternalError } from "../../../../common/errors.js";
import { ConfigReader } from "../config-reader.js";
import { compileTemplate, templateDataOf, type CompiledTemplate } from "../template.js";
import type { HandlerFactory, HeaderMap, PrepareContext, PreparedMutator } from "../types.js";
import { isHttpToken, setSessionHeader } from "./header.js";

interface CookieTemplate {
  readonly name: string;
  readonly template: CompiledTemplate;
}

/** RFC 6265 cookie-octet: printable ASCII except space, `"`, `,`, `;` and `\`. */
function isCookieOctet(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x22 && c !== 0x2c && c !== 0x3b && c !== 0x5c;
}

/** As Go's net/http writes a value: quoted when it has a space or comma (which it otherwise accepts). */
function serializeValue(value: string, quoted: boolean): string {
  return quoted || value.includes(" ") || value.includes(",") ? `"${value}"` : value;
}

/** Whether Go's net/http would send `value` as it is (space and comma allowed, then quoted). */
function isSendableValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (!isCookieOctet(c) && c !== 0x20 && c !== 0x2c) return false;
  }
  return true;
}

interface RequestCookie {
  readonly name: string;
  readonly value: string;
  readonly quoted: boolean;
}

/** The request's cookies as Go's `Request.Cookies()` reads them: malformed pairs are skipped. */
export function parseRequestCookies(header: HeaderMap[string]): RequestCookie[] {
  if (header === undefined) return [];
  const lines = typeof header === "string" ? [header] : header;
  const cookies: RequestCookie[] = [];
  for (const line of lines) {
    for (const rawPart of line.split(";")) {
      const part = rawPart.trim();
      if (part === "") continue;
      const eq = part.indexOf("=");
      const name = eq < 0 ? part : part.slice(0, eq);
      let value = eq < 0 ? "" : part.slice(eq + 1);
      if (!isHttpToken(name)) continue;
      const quoted = value.length >= 2 && value.startsWith('"') && value.endsWith('"');
      if (quoted) value = value.slice(1, -1);
      if (!isSendableValue(value)) continue;
      cookies.push({ name, value, quoted });
    }
  }
  return cookies;
}

export const cookieMutator: HandlerFactory<PreparedMutator> = Object.freeze({
  name: "cookie",
  prepare(config: Readonly<Record<string, unknown>>, context: PrepareContext): PreparedMutator {
    const reader = new ConfigReader(config, context.where);
    const cookies = reader.stringMap("cookies");
    if (cookies === undefined) throw reader.error("cookies", "is required");
    const templates: CookieTemplate[] = Object.entries(cookies).map(([name, source]) => {
      if (!isHttpToken(name)) throw reader.error(`cookies.${name}`, "is not a valid cookie name");
      return { name, template: compileTemplate(source, `${context.where}: config.cookies.${name}`) };
    });
    const configured = new Set(templates.map((t) => t.name));
    const where = context.where;
    return {
      async mutate(request, session): Promise<void> {
        const data = templates.length === 0 ? undefined : templateDataOf(session);
        const pairs: string[] = [];
        for (const { name, template } of templates) {
          const value = template.render(data);
          if (!isSendableValue(value)) {
            throw new InternalError(
              `${where}: the value rendered for cookie "${name}" contains a character a Cookie header cannot carry (";", a quote, a backslash, a control or non-ASCII character); refusing to forward it`,
              { reason: "invalid_cookie_value", details: { field: `config.cookies.${name}` } },
            );
          }
          pairs.push(`${name}=${serializeValue(value, false)}`);
        }
        // The request's own cookies follow, unless the rule sets one of the same name.
        for (const cookie of parseRequestCookies(request.headers.cookie)) {
          if (!configured.has(cookie.name)) pairs.push(`${cookie.name}=${serializeValue(cookie.value, cookie.quoted)}`);
        }
        setSessionHeader(session, "Cookie", pairs.join("; "));
      },
    };
  },
});
