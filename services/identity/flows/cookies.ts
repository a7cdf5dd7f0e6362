/**
 * The cookies browser flows set: the anti-CSRF cookie `csrf_token_<hex sha256 of the public base URL>` and
 * the session cookie `ory_kratos_session`, both HttpOnly, SameSite=Lax, Path=/, and Secure when the public
 * base URL is https (Kratos's defaults).
 */
import { createHash } from "node:crypto";

/** Attributes of a cookie this service sets. */
export interface CookieAttributes {
  /** Seconds the browser keeps it; 0 deletes it. */
  readonly maxAgeSeconds: number;
  readonly secure: boolean;
}

/** A `Set-Cookie` value with the attributes every cookie of this service carries. */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  const parts = [`${name}=${encodeURIComponent(value)}`, "Path=/", `Max-Age=${Math.max(0, Math.floor(attributes.maxAgeSeconds))}`];
  if (attributes.maxAgeSeconds <= 0) parts.push("Expires=Thu, 01 Jan 1970 00:00:00 GMT");
  parts.push("HttpOnly", "SameSite=Lax");
  if (attributes.secure) parts.push("Secure");
  return parts.join("; ");
}

/** Kratos's anti-CSRF cookie name: `csrf_token_` + hex SHA-256 of the public base URL. */
export function csrfCookieName(publicBaseUrl: string): string {
  return `csrf_token_${createHash("sha256").update(publicBaseUrl, "utf8").digest("hex")}`;
}

/** Cookies are marked Secure when the public plane is reached over https. */
export function secureCookiesFor(publicBaseUrl: string): boolean {
  return publicBaseUrl.toLowerCase().startsWith("https://");
}

/** The anti-CSRF cookie lives a year (nosurf's MaxAge, which Kratos uses). */
export const CSRF_COOKIE_MAX_AGE_SECONDS = 365 * 86_400;
