/**
 * Browser flows over real HTTP, as a browser (HTML forms, redirects not followed) and as an SPA (JSON) would
 * drive them, each with its own small cookie jar: the anti-CSRF cookie and the hidden `csrf_token`, the
 * session cookie, redirects to the built-in pages, validation errors, `session_already_available`, expired
 * flows, `return_to`, browser logout, and the built-in pages themselves.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";

const HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const JSON_TYPE = "application/json";
const FORM = "application/x-www-form-urlencoded";
const PASSWORD = "correct horse battery staple";

/** A browser's cookies for one site: what `Set-Cookie` set, sent back on every request. */
class CookieJar {
  readonly cookies = new Map<string, string>();

  header(): string | undefined {
    return this.cookies.size === 0 ? undefined : [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  /** Applies a response's cookies; returns the raw `Set-Cookie` values. */
  take(res: Response): string[] {
    const raw = res.headers.getSetCookie();
    for (const line of raw) {
      const [pair = "", ...attributes] = line.split(";").map((p) => p.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const maxAge = attributes.find((a) => /^max-age=/i.test(a));
      if (maxAge !== undefined && Number(maxAge.split("=")[1]) <= 0) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1));
    }
    return raw;
  }

  clone(): CookieJar {
    const copy = new CookieJar();
    for (const [k, v] of this.cookies) copy.cookies.set(k, v);
    return copy;
  }
}

/** A `Set-Cookie` value's attributes, lower-cased names. */
function attributesOf(setCookie: string): Map<string, string> {
  const [, ...parts] = setCookie.split(";").map((p) => p.trim());
  return new Map(parts.map((p) => [p.split("=")[0]!.toLowerCase(), p.includes("=") ? p.slice(p.indexOf("=") + 1) : ""]));
}

interface Sent {
  readonly status: number;
  readonly location: string | null;
  readonly setCookies: string[];
  readonly headers: Headers;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One request as a browser makes it: the jar's cookies, no redirect following. */
async function send(jar: CookieJar, url: string, init: { method?: string; accept?: string; body?: string; contentType?: string; headers?: Record<string, string> } = {}): Promise<Sent> {
  const headers: Record<string, string> = { accept: init.accept ?? HTML, ...init.headers };
  const cookie = jar.header();
  if (cookie !== undefined) headers["cookie"] = cookie;
  if (init.contentType !== undefined) headers["content-type"] = init.contentType;
  const res = await fetch(url, { method: init.method ?? "GET", headers, redirect: "manual", ...(init.body === undefined ? {} : { body: init.body }) });
  const setCookies = jar.take(res);
  const text = await res.text();
  return {
    status: res.status,
    location: res.headers.get("location"),
    setCookies,
    headers: res.headers,
    text,
    json: <T,>() => JSON.parse(text) as T,
  };
}

/** The hidden `csrf_token` of a rendered page. */
function csrfTokenOfPage(html: string): string {
  const match = /<input type="hidden" name="csrf_token" value="([^"]+)">/.exec(html);
  if (match?.[1] === undefined) throw new Error(`no csrf_token field in the page:\n${html}`);
  return match[1];
}

/** The form's action of a rendered page (entities decoded). */
function formActionOfPage(html: string): string {
  const match = /<form method="POST" action="([^"]+)">/.exec(html);
  if (match?.[1] === undefined) throw new Error("no POST form in the page");
  return match[1].replace(/&#38;/g, "&");
}

interface FlowJson {
  id: string;
  type: string;
  return_to?: string;
  refresh?: boolean;
  ui: { action: string; nodes: { attributes: { name: string; value?: unknown }; messages: { id: number; text: string }[] }[]; messages?: { id: number }[] };
}

const csrfNodeValue = (flow: FlowJson): string => flow.ui.nodes.find((n) => n.attributes.name === "csrf_token")?.attributes.value as string;

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

describe("identity browser flows", () => {
  let server: RunningServer;
  let base: string;
  let admin: string;
  const csrfCookieName = (publicBase: string) => `csrf_token_${createHash("sha256").update(publicBase).digest("hex")}`;

  beforeAll(async () => {
    const config = loopbackConfig();
    config.identity.argon2MemoryKib = 1024;
    config.identity.argon2Iterations = 1;
    config.identity.allowedReturnUrls = ["https://app.example.test/dashboard"];
    server = await startServer(config, () => {});
    base = server.identity.publicBaseUrl;
    admin = `http://127.0.0.1:${server.identity.ports.admin}`;
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Identities holding an email as their password identifier (through the admin API). */
  async function identitiesWith(email: string): Promise<unknown[]> {
    const res = await fetch(`${admin}/admin/identities?credentials_identifier=${encodeURIComponent(email)}`);
    return (await res.json()) as unknown[];
  }

  /** Starts an SPA flow: 200 with the flow JSON, cookie in the jar. */
  async function spaFlow(jar: CookieJar, kind: "login" | "registration", query = ""): Promise<FlowJson> {
    const res = await send(jar, `${base}/self-service/${kind}/browser${query}`, { accept: JSON_TYPE });
    expect(res.status, res.text).toBe(200);
    return res.json<FlowJson>();
  }

  /** Registers through the SPA variant; the jar ends up signed in. */
  async function registerSpa(jar: CookieJar, email: string): Promise<Record<string, unknown>> {
    const flow = await spaFlow(jar, "registration");
    const res = await send(jar, flow.ui.action, {
      method: "POST",
      accept: JSON_TYPE,
      contentType: JSON_TYPE,
      body: JSON.stringify({ method: "password", csrf_token: csrfNodeValue(flow), traits: { email }, password: PASSWORD }),
    });
    expect(res.status, res.text).toBe(200);
    return res.json();
  }

  it("registers a browser end to end: init 303, the page, the form post 303, the welcome page", async () => {
    const jar = new CookieJar();
    const init = await send(jar, `${base}/self-service/registration/browser`);
    expect(init.status).toBe(303);
    const pageUrl = new URL(init.location!);
    expect(`${pageUrl.origin}${pageUrl.pathname}`).toBe(`${base}/ui/registration`);
    const flowId = pageUrl.searchParams.get("flow")!;
    expect(flowId).toMatch(/^[0-9a-f-]{36}$/);
    expect(jar.cookies.has(csrfCookieName(base))).toBe(true);

    const page = await send(jar, init.location!);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("script-src");
    expect(page.text).toContain('name="traits.email"');
    expect(page.text).toContain('href="' + `${base}/ui/login`);
    const action = formActionOfPage(page.text);
    expect(action).toBe(`${base}/self-service/registration?flow=${flowId}`);
    // The hidden token is the cookie's.
    expect(csrfTokenOfPage(page.text)).toBe(jar.cookies.get(csrfCookieName(base)));

    const posted = await send(jar, action, {
      method: "POST",
      contentType: FORM,
      // Optional fields left blank, as a browser sends them: not stored as empty strings.
      body: form({ csrf_token: csrfTokenOfPage(page.text), "traits.email": "browser@example.com", "traits.name.first": "", "traits.name.last": "", password: PASSWORD, method: "password" }),
    });
    expect(posted.status, posted.text).toBe(303);
    expect(posted.location).toBe(`${base}/ui/welcome`);
    expect(jar.cookies.get("ory_kratos_session")).toMatch(/^ory_st_[A-Za-z0-9]{32}$/);

    const welcome = await send(jar, posted.location!);
    expect(welcome.status).toBe(200);
    expect(welcome.text).toContain("browser@example.com");
    expect(welcome.text).toContain("Sign out");
    const whoami = await send(jar, `${base}/sessions/whoami`, { accept: JSON_TYPE });
    expect(whoami.status).toBe(200);
    // whoami re-issues the session cookie with the session's current expiry.
    expect(whoami.setCookies.some((c) => c.startsWith(`ory_kratos_session=${jar.cookies.get("ory_kratos_session")};`))).toBe(true);
    expect(whoami.json<{ identity: { traits: unknown } }>().identity.traits).toEqual({ email: "browser@example.com" });
  });

  it("sets the CSRF and session cookies HttpOnly, SameSite=Lax, Path=/, not Secure over http", async () => {
    const jar = new CookieJar();
    const init = await send(jar, `${base}/self-service/registration/browser`, { accept: JSON_TYPE });
    const csrf = init.setCookies.find((c) => c.startsWith(`${csrfCookieName(base)}=`));
    expect(csrf).toBeDefined();
    const a = attributesOf(csrf!);
    expect(a.has("httponly")).toBe(true);
    expect(a.get("samesite")).toBe("Lax");
    expect(a.get("path")).toBe("/");
    expect(a.get("max-age")).toBe(String(365 * 86_400));
    expect(a.has("secure")).toBe(false);

    const flow = init.json<FlowJson>();
    const done = await send(jar, flow.ui.action, {
      method: "POST",
      accept: JSON_TYPE,
      contentType: JSON_TYPE,
      body: JSON.stringify({ method: "password", csrf_token: csrfNodeValue(flow), traits: { email: "cookies@example.com" }, password: PASSWORD }),
    });
    const session = done.setCookies.find((c) => c.startsWith("ory_kratos_session="));
    expect(session).toBeDefined();
    const s = attributesOf(session!);
    expect(s.has("httponly")).toBe(true);
    expect(s.get("samesite")).toBe("Lax");
    expect(s.get("path")).toBe("/");
    expect(Number(s.get("max-age"))).toBeGreaterThan(24 * 3600 - 60);
    expect(Number(s.get("max-age"))).toBeLessThanOrEqual(24 * 3600);
    expect(s.has("secure")).toBe(false);
  });

  it("serves SPA (JSON) flows: 200 flow with the csrf_token node, fetch with the cookie, 200 on submit without session_token", async () => {
    const jar = new CookieJar();
    const flow = await spaFlow(jar, "registration");
    expect(flow.type).toBe("browser");
    expect(csrfNodeValue(flow)).toBe(jar.cookies.get(csrfCookieName(base)));

    const fetched = await send(jar, `${base}/self-service/registration/flows?id=${flow.id}`, { accept: JSON_TYPE });
    expect(fetched.status).toBe(200);
    expect(csrfNodeValue(fetched.json<FlowJson>())).toBe(csrfNodeValue(flow));
    // Without the cookie the flow is not handed out.
    const stranger = await send(new CookieJar(), `${base}/self-service/registration/flows?id=${flow.id}`, { accept: JSON_TYPE });
    expect(stranger.status).toBe(403);
    expect(stranger.json()).toMatchObject({ error: { id: "security_csrf_violation" } });

    const registered = await send(jar, flow.ui.action, {
      method: "POST",
      accept: JSON_TYPE,
      contentType: JSON_TYPE,
      body: JSON.stringify({ method: "password", csrf_token: csrfNodeValue(flow), traits: { email: "spa@example.com" }, password: PASSWORD }),
    });
    expect(registered.status).toBe(200);
    const body = registered.json<{ identity: { id: string }; session: { identity: { id: string } }; continue_with: unknown[]; session_token?: string }>();
    expect(body.session.identity.id).toBe(body.identity.id);
    expect(body.continue_with).toEqual([]);
    expect(body.session_token).toBeUndefined();
    expect(registered.text).not.toContain("ory_st_");

    // Login as an SPA, in a fresh browser.
    const other = new CookieJar();
    const login = await spaFlow(other, "login");
    const loggedIn = await send(other, login.ui.action, {
      method: "POST",
      accept: JSON_TYPE,
      contentType: JSON_TYPE,
      body: JSON.stringify({ method: "password", csrf_token: csrfNodeValue(login), identifier: "SPA@example.com", password: PASSWORD }),
    });
    expect(loggedIn.status).toBe(200);
    const session = loggedIn.json<{ session: { identity: { id: string } }; continue_with: unknown[]; session_token?: string }>();
    expect(session.session.identity.id).toBe(body.identity.id);
    expect(session.continue_with).toEqual([]);
    expect(session.session_token).toBeUndefined();
    expect((await send(other, `${base}/sessions/whoami`, { accept: JSON_TYPE })).status).toBe(200);
  });

  it("accepts the CSRF token in the X-CSRF-Token header and a form body", async () => {
    const jar = new CookieJar();
    const flow = await spaFlow(jar, "registration");
    const res = await send(jar, flow.ui.action, {
      method: "POST",
      accept: JSON_TYPE,
      contentType: JSON_TYPE,
      headers: { "x-csrf-token": csrfNodeValue(flow) },
      body: JSON.stringify({ method: "password", traits: { email: "header@example.com" }, password: PASSWORD }),
    });
    expect(res.status, res.text).toBe(200);

    const formJar = new CookieJar();
    const formFlow = await spaFlow(formJar, "login");
    const viaForm = await send(formJar, formFlow.ui.action, {
      method: "POST",
      accept: JSON_TYPE,
      contentType: FORM,
      body: form({ method: "password", csrf_token: csrfNodeValue(formFlow), identifier: "header@example.com", password: PASSWORD }),
    });
    expect(viaForm.status, viaForm.text).toBe(200);
  });

  it("rejects submissions without the cookie, without the token, or with a wrong token (403, nothing created)", async () => {
    const jar = new CookieJar();
    const flow = await spaFlow(jar, "registration");
    const token = csrfNodeValue(flow);
    const attempt = async (from: CookieJar, body: Record<string, unknown>, email: string) => {
      const res = await send(from, flow.ui.action, {
        method: "POST",
        accept: JSON_TYPE,
        contentType: JSON_TYPE,
        body: JSON.stringify({ method: "password", traits: { email }, password: PASSWORD, ...body }),
      });
      expect(res.status, res.text).toBe(403);
      const error = res.json<{ error: { id: string; code: number; details: { reject_reason: string } } }>().error;
      expect(error.id).toBe("security_csrf_violation");
      expect(error.code).toBe(403);
      expect(await identitiesWith(email)).toEqual([]);
      return error.details.reject_reason;
    };

    expect(await attempt(new CookieJar(), { csrf_token: token }, "nocookie@example.com")).toBe("The HTTP Cookie Header is empty or not set.");
    const unrelated = new CookieJar();
    unrelated.cookies.set("theme", "dark");
    expect(await attempt(unrelated, { csrf_token: token }, "othercookie@example.com")).toBe(
      "The HTTP Cookie Header was set but did not include the anti-CSRF cookie.",
    );
    expect(await attempt(jar, {}, "notoken@example.com")).toMatch(/CSRF token was not included/);
    expect(await attempt(jar, { csrf_token: "A".repeat(43) }, "wrongtoken@example.com")).toMatch(/do not match/);

    // Another browser's cookie and token (valid together, but not bound to this flow).
    const attacker = new CookieJar();
    const attackerFlow = await spaFlow(attacker, "registration");
    expect(await attempt(attacker, { csrf_token: csrfNodeValue(attackerFlow) }, "crossflow@example.com")).toMatch(/do not match/);

    // An HTML form post without the token gets the same 403, as a page.
    const page = await send(jar, flow.ui.action, {
      method: "POST",
      contentType: FORM,
      body: form({ method: "password", "traits.email": "htmlcsrf@example.com", password: PASSWORD }),
    });
    expect(page.status).toBe(403);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.text).toContain("security_csrf_violation");
    expect(await identitiesWith("htmlcsrf@example.com")).toEqual([]);

    // The flow itself is still good with the right token.
    const ok = await send(jar, flow.ui.action, {
      method: "POST",
      accept: JSON_TYPE,
      contentType: JSON_TYPE,
      body: JSON.stringify({ method: "password", csrf_token: token, traits: { email: "csrf-ok@example.com" }, password: PASSWORD }),
    });
    expect(ok.status).toBe(200);
  });

  it("refuses browser flows submitted as native ones and keeps native flows free of cookies", async () => {
    const jar = new CookieJar();
    await registerSpa(jar, "native-check@example.com");
    // A browser (cookies) cannot start or submit native flows.
    const native = await send(jar, `${base}/self-service/login/api`, { accept: JSON_TYPE });
    expect(native.status).toBe(400);
    // A native flow id never passes the browser checks either: its submission refuses cookies.
    const flow = (await (await fetch(`${base}/self-service/login/api`, { headers: { accept: JSON_TYPE } })).json()) as FlowJson;
    const res = await send(jar, flow.ui.action, { method: "POST", accept: JSON_TYPE, contentType: JSON_TYPE, body: JSON.stringify({ method: "password" }) });
    expect(res.status).toBe(400);
  });

  it("answers a validation failure with a 303 back to the page (HTML) and 400 with the flow (JSON)", async () => {
    const jar = new CookieJar();
    const init = await send(jar, `${base}/self-service/registration/browser`);
    const page = await send(jar, init.location!);
    const action = formActionOfPage(page.text);
    const posted = await send(jar, action, {
      method: "POST",
      contentType: FORM,
      body: form({ csrf_token: csrfTokenOfPage(page.text), "traits.email": '"><script>alert(1)</script>', password: "short", method: "password" }),
    });
    expect(posted.status).toBe(303);
    expect(posted.location).toBe(init.location);
    const again = await send(jar, posted.location!);
    expect(again.status).toBe(200);
    expect(again.text).toMatch(/class="error" data-message-id="4000032"/);
    // The value typed is shown again, escaped.
    expect(again.text).not.toContain("<script>");
    expect(again.text).toContain("&#34;&#62;&#60;script&#62;");
    expect(again.text).not.toContain('value="short"');

    const spa = new CookieJar();
    const flow = await spaFlow(spa, "registration");
    const res = await send(spa, flow.ui.action, {
      method: "POST",
      accept: JSON_TYPE,
      contentType: JSON_TYPE,
      body: JSON.stringify({ method: "password", csrf_token: csrfNodeValue(flow), traits: { email: "not-an-email" }, password: "short" }),
    });
    expect(res.status).toBe(400);
    const failed = res.json<FlowJson>();
    expect(failed.id).toBe(flow.id);
    const byName = new Map(failed.ui.nodes.map((n) => [n.attributes.name, n]));
    expect(byName.get("traits.email")?.messages.length).toBeGreaterThan(0);
    expect(byName.get("password")?.messages.map((m) => m.id)).toContain(4000032);
    // The flow keeps its CSRF node, so the SPA can submit again.
    expect(csrfNodeValue(failed)).toBe(csrfNodeValue(flow));
    expect(await identitiesWith("not-an-email")).toEqual([]);
  });

  it("refuses a second sign-in while signed in (JSON 400 session_already_available, HTML 303 on) unless refresh=true", async () => {
    const jar = new CookieJar();
    const { identity } = (await registerSpa(jar, "already@example.com")) as { identity: { id: string } };
    const json = await send(jar, `${base}/self-service/login/browser`, { accept: JSON_TYPE });
    expect(json.status).toBe(400);
    expect(json.json()).toMatchObject({ error: { id: "session_already_available" } });
    const html = await send(jar, `${base}/self-service/login/browser`);
    expect(html.status).toBe(303);
    expect(html.location).toBe(`${base}/ui/welcome`);
    const withReturn = await send(jar, `${base}/self-service/login/browser?return_to=${encodeURIComponent("https://app.example.test/dashboard/home")}`);
    expect(withReturn.location).toBe("https://app.example.test/dashboard/home");
    // Registration too.
    expect((await send(jar, `${base}/self-service/registration/browser`, { accept: JSON_TYPE })).status).toBe(400);

    // refresh=true: re-authenticate; the old session is replaced (and revoked).
    const oldToken = jar.cookies.get("ory_kratos_session")!;
    const refresh = await spaFlow(jar, "login", "?refresh=true");
    expect(refresh.refresh).toBe(true);
    const res = await send(jar, refresh.ui.action, {
      method: "POST",
      accept: JSON_TYPE,
      contentType: JSON_TYPE,
      body: JSON.stringify({ method: "password", csrf_token: csrfNodeValue(refresh), identifier: "already@example.com", password: PASSWORD }),
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json<{ session: { identity: { id: string } } }>().session.identity.id).toBe(identity.id);
    const newToken = jar.cookies.get("ory_kratos_session")!;
    expect(newToken).not.toBe(oldToken);
    expect((await fetch(`${base}/sessions/whoami`, { headers: { "x-session-token": oldToken } })).status).toBe(401);
    expect((await fetch(`${base}/sessions/whoami`, { headers: { "x-session-token": newToken } })).status).toBe(200);
  });

  it("accepts return_to on an allowed URL and refuses others with self_service_flow_return_to_forbidden", async () => {
    const jar = new CookieJar();
    const allowed = "https://app.example.test/dashboard/after?x=1";
    const flow = await spaFlow(jar, "registration", `?return_to=${encodeURIComponent(allowed)}`);
    expect(flow.return_to).toBe(allowed);
    // Same origin as the public plane is always allowed.
    const own = await spaFlow(new CookieJar(), "login", `?return_to=${encodeURIComponent(`${base}/somewhere`)}`);
    expect(own.return_to).toBe(`${base}/somewhere`);

    for (const bad of ["https://evil.example/", "https://app.example.test/other", "//evil.example/x", "javascript:alert(1)", "https://app.example.test/dashboardx"]) {
      const res = await send(new CookieJar(), `${base}/self-service/login/browser?return_to=${encodeURIComponent(bad)}`, { accept: JSON_TYPE });
      expect(res.status, bad).toBe(400);
      expect(res.json(), bad).toMatchObject({ error: { id: "self_service_flow_return_to_forbidden" } });
    }
    const htmlRefusal = await send(new CookieJar(), `${base}/self-service/registration/browser?return_to=${encodeURIComponent("https://evil.example/")}`);
    expect(htmlRefusal.status).toBe(400);
    expect(htmlRefusal.text).toContain("self_service_flow_return_to_forbidden");
    expect(htmlRefusal.setCookies).toEqual([]);

    // A browser registration with return_to lands there.
    const html = new CookieJar();
    const init = await send(html, `${base}/self-service/registration/browser?return_to=${encodeURIComponent(allowed)}`);
    const page = await send(html, init.location!);
    const done = await send(html, formActionOfPage(page.text), {
      method: "POST",
      contentType: FORM,
      body: form({ csrf_token: csrfTokenOfPage(page.text), "traits.email": "returnto@example.com", password: PASSWORD, method: "password" }),
    });
    expect(done.status).toBe(303);
    expect(done.location).toBe(allowed);
  });

  it("logs a browser out: logout URL and token, wrong tokens refused (nothing revoked), the session revoked and the cookie cleared", async () => {
    const jar = new CookieJar();
    await registerSpa(jar, "logout@example.com");
    expect((await send(new CookieJar(), `${base}/self-service/logout/browser`, { accept: JSON_TYPE })).status).toBe(401);

    const created = await send(jar, `${base}/self-service/logout/browser`, { accept: JSON_TYPE });
    expect(created.status).toBe(200);
    const { logout_url, logout_token } = created.json<{ logout_url: string; logout_token: string }>();
    expect(logout_token).toMatch(/^ory_lo_[A-Za-z0-9]{32}$/);
    expect(logout_url).toBe(`${base}/self-service/logout?token=${logout_token}`);

    // A token that is not this session's: 403, and the session lives on.
    const wrong = await send(jar, `${base}/self-service/logout?token=ory_lo_${"x".repeat(32)}`, { accept: JSON_TYPE });
    expect(wrong.status).toBe(403);
    const other = new CookieJar();
    await registerSpa(other, "logout-other@example.com");
    const othersToken = (await send(other, `${base}/self-service/logout/browser`, { accept: JSON_TYPE })).json<{ logout_token: string }>().logout_token;
    expect((await send(jar, `${base}/self-service/logout?token=${othersToken}`, { accept: JSON_TYPE })).status).toBe(403);
    // The right token without the session cookie: 401.
    expect((await send(new CookieJar(), logout_url, { accept: JSON_TYPE })).status).toBe(401);
    // A forbidden return_to: 400, nothing revoked.
    expect((await send(jar, `${logout_url}&return_to=${encodeURIComponent("https://evil.example/")}`, { accept: JSON_TYPE })).status).toBe(400);
    expect((await send(jar, `${base}/sessions/whoami`, { accept: JSON_TYPE })).status).toBe(200);
    expect((await send(other, `${base}/sessions/whoami`, { accept: JSON_TYPE })).status).toBe(200);

    // A HEAD of the logout URL (a prefetcher) signs nobody out.
    expect((await fetch(logout_url, { method: "HEAD", headers: { cookie: jar.header()! } })).status).toBe(405);
    expect((await send(jar, `${base}/sessions/whoami`, { accept: JSON_TYPE })).status).toBe(200);

    const sessionToken = jar.cookies.get("ory_kratos_session")!;
    const done = await send(jar, logout_url);
    expect(done.status).toBe(303);
    expect(done.location).toBe(`${base}/ui/login`);
    const cleared = done.setCookies.find((c) => c.startsWith("ory_kratos_session="))!;
    expect(cleared).toMatch(/^ory_kratos_session=;/);
    expect(attributesOf(cleared).get("max-age")).toBe("0");
    expect(attributesOf(cleared).get("path")).toBe("/");
    expect(jar.cookies.has("ory_kratos_session")).toBe(false);
    expect((await fetch(`${base}/sessions/whoami`, { headers: { "x-session-token": sessionToken } })).status).toBe(401);
    // Used once.
    const replay = new CookieJar();
    replay.cookies.set("ory_kratos_session", sessionToken);
    expect((await send(replay, logout_url, { accept: JSON_TYPE })).status).toBe(401);

    // The SPA variant: 204, and return_to on an allowed URL for browsers.
    const { logout_url: spaUrl } = (await send(other, `${base}/self-service/logout/browser`, { accept: JSON_TYPE })).json<{ logout_url: string }>();
    const spa = await send(other, spaUrl, { accept: JSON_TYPE });
    expect(spa.status).toBe(204);
    expect(spa.setCookies.some((c) => c.startsWith("ory_kratos_session=;"))).toBe(true);
    expect((await send(other, `${base}/sessions/whoami`, { accept: JSON_TYPE })).status).toBe(401);

    const third = new CookieJar();
    await registerSpa(third, "logout-return@example.com");
    const target = "https://app.example.test/dashboard/bye";
    const withReturn = (await send(third, `${base}/self-service/logout/browser?return_to=${encodeURIComponent(target)}`, { accept: JSON_TYPE })).json<{ logout_url: string }>();
    const bye = await send(third, withReturn.logout_url);
    expect(bye.status).toBe(303);
    expect(bye.location).toBe(target);
  });

  it("serves the built-in pages: redirects without a flow or a session, 403 without the CSRF cookie, escaped traits", async () => {
    const jar = new CookieJar();
    const login = await send(jar, `${base}/ui/login?return_to=${encodeURIComponent("https://app.example.test/dashboard")}`);
    expect(login.status).toBe(303);
    expect(login.location).toBe(`${base}/self-service/login/browser?return_to=${encodeURIComponent("https://app.example.test/dashboard")}`);
    expect((await send(jar, `${base}/ui/welcome`)).location).toBe(`${base}/ui/login`);
    expect((await send(jar, `${base}/ui/registration?flow=00000000-0000-4000-8000-000000000000`)).location).toBe(`${base}/self-service/registration/browser`);

    const init = await send(jar, `${base}/self-service/login/browser`);
    const page = await send(jar, init.location!);
    expect(page.status).toBe(200);
    expect(page.text).toContain('name="identifier"');
    expect(page.text).toContain('autocomplete="current-password"');
    expect(page.text).toContain(`href="${base}/ui/registration"`);
    // Another browser (no cookie) cannot open this flow's page.
    const stranger = await send(new CookieJar(), init.location!);
    expect(stranger.status).toBe(403);
    expect(stranger.text).toContain("security_csrf_violation");
    expect(stranger.text).not.toContain("csrf_token\" value");

    // Traits are escaped on the welcome page.
    const evil = new CookieJar();
    const flow = await spaFlow(evil, "registration");
    const res = await send(evil, flow.ui.action, {
      method: "POST",
      accept: JSON_TYPE,
      contentType: JSON_TYPE,
      body: JSON.stringify({
        method: "password",
        csrf_token: csrfNodeValue(flow),
        traits: { email: "escape@example.com", name: { first: "<img src=x onerror=alert(1)>", last: "O'Brien & \"Co\"" } },
        password: PASSWORD,
      }),
    });
    expect(res.status).toBe(200);
    const welcome = await send(evil, `${base}/ui/welcome`);
    expect(welcome.status).toBe(200);
    expect(welcome.text).not.toContain("<img");
    expect(welcome.text).toContain("&#60;img src=x onerror=alert(1)&#62;");
    expect(welcome.text).toContain("O&#39;Brien &#38; &#34;Co&#34;");
    expect(welcome.text).not.toContain("ory_st_");
    expect(welcome.headers.get("cache-control")).toContain("no-store");

    // The sign-out form on the page works: its hidden token goes to /self-service/logout.
    const token = /name="token" value="(ory_lo_[A-Za-z0-9]{32})"/.exec(welcome.text)?.[1];
    expect(token).toBeDefined();
    expect(welcome.text).toContain(`action="${base}/self-service/logout"`);
    const out = await send(evil, `${base}/self-service/logout?token=${token}`);
    expect(out.status).toBe(303);
    expect((await send(evil, `${base}/ui/welcome`)).location).toBe(`${base}/ui/login`);
  });

  it("signs in through the login page after registering (HTML), landing on the welcome page", async () => {
    const jar = new CookieJar();
    await registerSpa(jar.clone(), "html-login@example.com");
    const init = await send(jar, `${base}/ui/login`);
    const flowInit = await send(jar, init.location!);
    const page = await send(jar, flowInit.location!);
    const wrong = await send(jar, formActionOfPage(page.text), {
      method: "POST",
      contentType: FORM,
      body: form({ csrf_token: csrfTokenOfPage(page.text), identifier: "html-login@example.com", password: "not the password", method: "password" }),
    });
    expect(wrong.status).toBe(303);
    const retry = await send(jar, wrong.location!);
    expect(retry.text).toContain('data-message-id="4000006"');
    expect(retry.text).toContain('value="html-login@example.com"');
    const ok = await send(jar, formActionOfPage(retry.text), {
      method: "POST",
      contentType: FORM,
      body: form({ csrf_token: csrfTokenOfPage(retry.text), identifier: "html-login@example.com", password: PASSWORD, method: "password" }),
    });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe(`${base}/ui/welcome`);
    expect((await send(jar, ok.location!)).text).toContain("html-login@example.com");
  });
});

describe("identity browser flows behind https, with a short flow lifespan", () => {
  let server: RunningServer;
  let direct: string;
  const publicBase = "https://id.example.test";

  beforeAll(async () => {
    const config = loopbackConfig();
    config.identity.argon2MemoryKib = 1024;
    config.identity.argon2Iterations = 1;
    config.identity.publicBaseUrl = publicBase;
    config.identity.flowLifespanMillis = 1_500;
    server = await startServer(config, () => {});
    direct = `http://127.0.0.1:${server.identity.ports.public}`;
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** URLs the server hands out name the public base; the test reaches the same server directly. */
  const local = (url: string): string => url.replace(publicBase, direct);
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("marks cookies Secure and names the CSRF cookie after the public base URL", async () => {
    const jar = new CookieJar();
    const init = await send(jar, `${direct}/self-service/login/browser`);
    expect(init.location).toMatch(new RegExp(`^${publicBase}/ui/login\\?flow=`));
    const name = `csrf_token_${createHash("sha256").update(publicBase).digest("hex")}`;
    const csrf = init.setCookies.find((c) => c.startsWith(`${name}=`));
    expect(csrf).toBeDefined();
    expect(attributesOf(csrf!).has("secure")).toBe(true);
  });

  it("answers an expired flow with 410 and use_flow_id (JSON) or a 303 to a new flow's page (HTML)", async () => {
    const jar = new CookieJar();
    const res = await send(jar, `${direct}/self-service/registration/browser`, { accept: JSON_TYPE });
    const flow = res.json<FlowJson>();
    await pause(1_600);

    const fetched = await send(jar, `${direct}/self-service/registration/flows?id=${flow.id}`, { accept: JSON_TYPE });
    expect(fetched.status).toBe(410);
    expect(fetched.json()).toMatchObject({ error: { id: "self_service_flow_expired" } });

    const submitted = await send(jar, local(flow.ui.action), {
      method: "POST",
      accept: JSON_TYPE,
      contentType: JSON_TYPE,
      body: JSON.stringify({ method: "password", csrf_token: csrfNodeValue(flow), traits: { email: "late@example.com" }, password: PASSWORD }),
    });
    expect(submitted.status).toBe(410);
    const body = submitted.json<{ error: { id: string }; use_flow_id: string }>();
    expect(body.error.id).toBe("self_service_flow_expired");
    expect(body.use_flow_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.use_flow_id).not.toBe(flow.id);
    // The replacement is bound to the same cookie (fetch before it expires too).
    const replacement = await send(jar, `${direct}/self-service/registration/flows?id=${body.use_flow_id}`, { accept: JSON_TYPE });
    expect(replacement.status).toBe(200);
    expect(csrfNodeValue(replacement.json<FlowJson>())).toBe(csrfNodeValue(flow));

    const html = await send(jar, local(flow.ui.action), {
      method: "POST",
      contentType: FORM,
      body: form({ method: "password", csrf_token: csrfNodeValue(flow), "traits.email": "late@example.com", password: PASSWORD }),
    });
    expect(html.status).toBe(303);
    expect(html.location).toMatch(new RegExp(`^${publicBase}/ui/registration\\?flow=[0-9a-f-]{36}$`));
    expect(html.location).not.toContain(flow.id);

    // The expired page itself moves on to a fresh flow.
    const page = await send(jar, `${direct}/ui/registration?flow=${flow.id}`);
    expect(page.status).toBe(303);
    expect(page.location).toMatch(new RegExp(`^${publicBase}/ui/registration\\?flow=`));
  });
});
