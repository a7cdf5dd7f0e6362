/**
 * The built-in sign-in pages, served on the public plane (server-rendered, no framework, no scripts):
 *
 * - `GET /ui/login`, `GET /ui/registration`: without `?flow=` they send the browser to the browser-flow init
 *   (which sets the CSRF cookie and comes back with `?flow=`); with it they load the flow in-process — checking
 *   the CSRF cookie as `GET /self-service/{kind}/flows` does — and render its `ui.nodes` as a plain form posting
 *   to `ui.action`, with labels, values, field and form messages, and a link to the other page;
 * - `GET /ui/welcome`: the signed-in identity (email, traits) and a "Sign out" button carrying the logout
 *   token of `/self-service/logout/browser` to `/self-service/logout`; without a session, to `/ui/login`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { KratosHttpError } from "../api/http-io.js";
import type { UiNodeJson, UiTextJson } from "../flows/flow-ui.js";
import type { BrowserFlows } from "../flows/browser.js";
import type { LogoutFlows } from "../flows/logout.js";
import { SelfService } from "../flows/self-service.js";
import type { FlowKind, IdentityWithCredentials } from "../model.js";
import type { SessionService } from "../sessions.js";
import { escapeHtml, renderPage, sendErrorPage, sendHtml } from "./html.js";

/** What the pages work with. */
export interface UiPagesOptions {
  readonly flows: SelfService;
  readonly sessions: SessionService;
  readonly browser: BrowserFlows;
  readonly logout: LogoutFlows;
}

type PageRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

/** A 303 to `location`, with cookies to set. */
export function redirect(res: ServerResponse, location: string, cookies: readonly string[] = []): void {
  res.writeHead(303, {
    location,
    "cache-control": "private, no-cache, no-store, must-revalidate",
    "content-length": 0,
    ...(cookies.length === 0 ? {} : { "set-cookie": [...cookies] }),
  });
  res.end();
}

function messagesHtml(messages: readonly UiTextJson[] | undefined): string {
  if (messages === undefined || messages.length === 0) return "";
  const items = messages.map((m) => `<li class="${escapeHtml(m.type)}" data-message-id="${escapeHtml(m.id)}">${escapeHtml(m.text)}</li>`);
  return `<ul class="messages">${items.join("")}</ul>`;
}

function attr(name: string, value: unknown): string {
  return value === undefined || value === null || value === false ? "" : value === true ? ` ${name}` : ` ${name}="${escapeHtml(value)}"`;
}

/** One node of a flow's UI as HTML. Scripts and images are never rendered (the pages load nothing). */
function nodeHtml(node: UiNodeJson, index: number): string {
  const a = node.attributes;
  const label = node.meta.label?.text;
  const messages = messagesHtml(node.messages);
  if (node.type === "text") {
    const text = (a["text"] as UiTextJson | undefined)?.text;
    return `<p>${escapeHtml(text)}</p>${messages}`;
  }
  if (node.type === "a") {
    const href = typeof a["href"] === "string" && /^https?:\/\//i.test(a["href"]) ? a["href"] : undefined;
    const title = (a["title"] as UiTextJson | undefined)?.text ?? href;
    return href === undefined ? "" : `<p><a href="${escapeHtml(href)}">${escapeHtml(title)}</a></p>`;
  }
  if (node.type !== "input") return "";
  const type = typeof a["type"] === "string" ? a["type"] : "text";
  const name = typeof a["name"] === "string" ? a["name"] : "";
  // Values are shown again after a failed submission, never for a password.
  const value = type === "password" ? undefined : a["value"];
  if (type === "hidden") return `<input type="hidden"${attr("name", name)}${attr("value", value)}>`;
  if (type === "submit" || type === "button") {
    return `<button type="submit"${attr("name", name)}${attr("value", value)}${attr("disabled", a["disabled"] === true)}>${escapeHtml(label ?? "Submit")}</button>${messages}`;
  }
  const id = `field-${index}`;
  const common = `${attr("id", id)}${attr("name", name)}${attr("required", a["required"] === true)}${attr("disabled", a["disabled"] === true)}`;
  if (type === "checkbox") {
    return `<label for="${id}"><input type="checkbox"${common} value="true"${attr("checked", value === true || value === "true")}> ${escapeHtml(label ?? name)}</label>${messages}`;
  }
  const inputType = ["text", "password", "number", "email", "tel", "url", "date", "datetime-local"].includes(type) ? type : "text";
  return `<label for="${id}">${escapeHtml(label ?? name)}</label><input type="${inputType}"${common}${attr("value", typeof value === "object" ? undefined : value)}${attr("autocomplete", a["autocomplete"])}${attr("pattern", a["pattern"])}${attr("maxlength", a["maxlength"])}>${messages}`;
}

/** The form of a flow's `ui` container. */
function flowFormHtml(ui: { action: string; method: string; nodes: readonly UiNodeJson[]; messages?: readonly UiTextJson[] }): string {
  const nodes = ui.nodes.map((n, i) => nodeHtml(n, i));
  // Hidden fields first and the submit buttons last, whatever order the nodes come in.
  const hidden = ui.nodes.map((n, i) => (n.attributes["type"] === "hidden" ? nodes[i] : "")).join("");
  const buttons = ui.nodes.map((n, i) => (n.attributes["type"] === "submit" || n.attributes["type"] === "button" ? nodes[i] : "")).join("");
  const fields = ui.nodes
    .map((n, i) => (n.attributes["type"] === "hidden" || n.attributes["type"] === "submit" || n.attributes["type"] === "button" ? "" : nodes[i]))
    .join("\n");
  return `${messagesHtml(ui.messages)}<form method="POST" action="${escapeHtml(ui.action)}">
${hidden}
${fields}
${buttons}
</form>`;
}

/** Traits as `path → value` rows (nested objects flattened, arrays joined). */
function traitRows(traits: Readonly<Record<string, unknown>>, prefix = ""): [string, string][] {
  const rows: [string, string][] = [];
  for (const [key, value] of Object.entries(traits)) {
    const path = prefix === "" ? key : `${prefix}.${key}`;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) rows.push(...traitRows(value as Record<string, unknown>, path));
    else rows.push([path, Array.isArray(value) ? value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ") : String(value)]);
  }
  return rows;
}

/** The address to greet an identity by: an email trait, else its first verifiable address. */
function displayNameOf(entry: IdentityWithCredentials): string | undefined {
  const email = entry.identity.traits["email"];
  if (typeof email === "string" && email !== "") return email;
  return entry.identity.verifiableAddresses[0]?.value;
}

/** The pages' routes, as `[method, path pattern, handler]`. */
export function uiRoutes(options: UiPagesOptions): [string, RegExp, PageRoute][] {
  const { flows, sessions, browser, logout } = options;
  const base = browser.publicBaseUrl;
  const formOrigins = browser.formOrigins();
  const pageUrl = (kind: FlowKind | "welcome"): string => `${base}/ui/${kind}`;

  /** Sends the browser to the flow init, carrying `return_to` (and `refresh` for login) along. */
  const toInit = (res: ServerResponse, kind: FlowKind, params: { returnTo?: string | null; refresh?: string | null }): void => {
    const init = new URL(`${base}/self-service/${kind}/browser`);
    if (params.returnTo) init.searchParams.set("return_to", params.returnTo);
    if (kind === "login" && params.refresh === "true") init.searchParams.set("refresh", "true");
    redirect(res, init.toString());
  };

  const flowPage =
    (kind: FlowKind): PageRoute =>
    async (req, res, url) => {
      const id = url.searchParams.get("flow");
      if (id === null || id === "") {
        toInit(res, kind, { returnTo: url.searchParams.get("return_to"), refresh: url.searchParams.get("refresh") });
        return;
      }
      let flow;
      try {
        flow = await flows.get(kind, id);
      } catch (err) {
        // An unknown flow (swept, or a stale bookmark): start a new one.
        if (err instanceof KratosHttpError && (err.status === 404 || err.status === 400)) {
          toInit(res, kind, {});
          return;
        }
        throw err;
      }
      if (flow.type !== "browser") {
        toInit(res, kind, { returnTo: flow.returnTo ?? null });
        return;
      }
      let token: string;
      try {
        token = browser.checkFlowCookie(req, flow);
      } catch (err) {
        // No redirect here: a browser that refuses the cookie would loop between the init and this page.
        sendErrorPage(res, err, pageUrl(kind), formOrigins);
        return;
      }
      if (SelfService.isExpired(flow)) {
        const replacement = await flows.replacementFor(flow);
        redirect(res, `${pageUrl(kind)}?flow=${encodeURIComponent(replacement.id)}`);
        return;
      }
      const json = flows.render(flow, token) as { ui: { action: string; method: string; nodes: UiNodeJson[]; messages?: UiTextJson[] } };
      const other: FlowKind = kind === "login" ? "registration" : "login";
      const otherUrl = new URL(pageUrl(other));
      if (flow.returnTo !== undefined) otherUrl.searchParams.set("return_to", flow.returnTo);
      const switchLink =
        kind === "login"
          ? `<p class="switch">No account yet? <a href="${escapeHtml(otherUrl.toString())}">Create one</a></p>`
          : `<p class="switch">Already have an account? <a href="${escapeHtml(otherUrl.toString())}">Sign in</a></p>`;
      const title = kind === "login" ? ((flow.state as { refresh?: boolean }).refresh === true ? "Confirm it is you" : "Sign in") : "Create an account";
      sendHtml(res, 200, renderPage(title, `${flowFormHtml(json.ui)}\n${switchLink}`), formOrigins);
    };

  const welcome: PageRoute = async (req, res) => {
    const current = await sessions.authenticate(req);
    if (current === undefined) {
      redirect(res, pageUrl("login"));
      return;
    }
    const { entry, session } = current;
    const { logout_url } = await logout.create(session, undefined, `${base}/ui/welcome`);
    const signOut = new URL(logout_url);
    const name = displayNameOf(entry);
    const rows = traitRows(entry.identity.traits)
      .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`)
      .join("");
    const body = [
      `<p>You are signed in${name === undefined ? "" : ` as <strong data-testid="identity-name">${escapeHtml(name)}</strong>`}.</p>`,
      `<dl>${rows}<dt>identity</dt><dd><code>${escapeHtml(entry.identity.id)}</code></dd><dt>session expires</dt><dd>${escapeHtml(session.expiresAt.toISOString())}</dd></dl>`,
      // The logout token travels like a CSRF token: in a hidden field, so a link from elsewhere cannot sign the browser out.
      `<form method="GET" action="${escapeHtml(`${signOut.origin}${signOut.pathname}`)}">${[...signOut.searchParams]
        .map(([k, v]) => `<input type="hidden"${attr("name", k)}${attr("value", v)}>`)
        .join("")}<button type="submit">Sign out</button></form>`,
    ].join("\n");
    sendHtml(res, 200, renderPage("Welcome", body), formOrigins);
  };

  return [
    ["GET", /^\/ui\/?$/, async (_req, res) => redirect(res, pageUrl("welcome"))],
    ["GET", /^\/ui\/login$/, flowPage("login")],
    ["GET", /^\/ui\/registration$/, flowPage("registration")],
    ["GET", /^\/ui\/welcome$/, welcome],
  ];
}
