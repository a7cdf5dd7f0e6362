/**
 * HTML plumbing of the built-in sign-in pages: escaping, the page frame with its one inline stylesheet, the
 * strict Content-Security-Policy (no scripts, no external assets, the stylesheet allowed by its hash, forms
 * only to this service and the allowed return origins), and error pages.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { applyErrorHeaders, errorResponse, wantsJson } from "../api/http-io.js";

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? "").replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The pages' only style, inline (no external assets); the CSP names its hash. */
const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5b6472; --bg: #f4f5f7; --card: #fff; --line: #d5d9e0; --accent: #2f5bd3; --error: #b42318; --ok: #067647; }
@media (prefers-color-scheme: dark) { :root { --fg: #e7e9ee; --muted: #a3abb8; --bg: #14171c; --card: #1d2128; --line: #343a45; --accent: #7ea0ff; --error: #ff8a80; --ok: #6ce9a6; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: var(--bg); color: var(--fg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { width: min(26rem, calc(100vw - 2rem)); margin: 2rem 0; padding: 2rem; background: var(--card); border: 1px solid var(--line); border-radius: 12px; }
h1 { margin: 0 0 1.25rem; font-size: 1.5rem; }
label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
input:not([type=hidden]):not([type=checkbox]) { width: 100%; padding: .6rem .7rem; font: inherit; color: inherit; background: transparent; border: 1px solid var(--line); border-radius: 8px; }
input:focus-visible, button:focus-visible, a:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
button { width: 100%; margin-top: 1.5rem; padding: .7rem; font: inherit; font-weight: 600; color: #fff; background: var(--accent); border: 0; border-radius: 8px; cursor: pointer; }
ul.messages { list-style: none; margin: .5rem 0; padding: 0; }
ul.messages li { margin: .25rem 0; font-size: .92rem; }
.error { color: var(--error); }
.success { color: var(--ok); }
.info, .muted { color: var(--muted); }
a { color: var(--accent); }
p.switch { margin: 1.5rem 0 0; text-align: center; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1rem; margin: 0 0 1rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
code { font-size: .85rem; overflow-wrap: anywhere; }
`;

const STYLE_HASH = `sha256-${createHash("sha256").update(STYLESHEET, "utf8").digest("base64")}`;

/**
 * The CSP of every page: nothing loads but the inline stylesheet; no scripts, frames, plugins or base
 * changes; forms post (and are redirected) only to `formOrigins` (`'self'` plus the service's and the
 * allowed return URLs' origins: Chrome applies `form-action` to the redirect after a post too).
 */
export function contentSecurityPolicy(formOrigins: readonly string[]): string {
  const sources = ["'self'", ...formOrigins.filter((o) => /^https?:\/\/[^\s;,']+$/.test(o))];
  return [
    "default-src 'none'",
    `style-src '${STYLE_HASH}'`,
    "img-src 'none'",
    `form-action ${[...new Set(sources)].join(" ")}`,
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** A whole page around `body` (already escaped HTML). */
export function renderPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Gatehouse</title>
<style>${STYLESHEET}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

/** Sends a page with the security headers every page carries. Pages are never cached (they hold CSRF and logout tokens). */
export function sendHtml(res: ServerResponse, status: number, html: string, formOrigins: readonly string[], headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(html),
    "cache-control": "private, no-cache, no-store, must-revalidate",
    "content-security-policy": contentSecurityPolicy(formOrigins),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : html);
}

/** True when the client is a browser navigating (Accept names text/html) rather than asking for JSON. */
export function prefersHtml(req: IncomingMessage): boolean {
  return !wantsJson(req) && /text\/html/i.test(req.headers.accept ?? "");
}

/** An error as a page: its status, Kratos's id, message and reason, and a link to start over. */
export function sendErrorPage(res: ServerResponse, error: unknown, startOverUrl: string, formOrigins: readonly string[]): void {
  const { status, body } = errorResponse(error);
  applyErrorHeaders(res, error);
  const e = body.error;
  const rejectReason = e.details?.["reject_reason"];
  const parts = [
    `<p class="error">${escapeHtml(e.message)}</p>`,
    e.reason === undefined ? "" : `<p>${escapeHtml(e.reason)}</p>`,
    typeof rejectReason === "string" ? `<p class="muted">${escapeHtml(rejectReason)}</p>` : "",
    `<p class="muted">Error ${escapeHtml(status)}${e.id === undefined ? "" : ` · <code>${escapeHtml(e.id)}</code>`}</p>`,
    `<p class="switch"><a href="${escapeHtml(startOverUrl)}">Start over</a></p>`,
  ];
  sendHtml(res, status, renderPage(status >= 500 ? "Something went wrong" : "This did not work", parts.join("\n")), formOrigins);
}
