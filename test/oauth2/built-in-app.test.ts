/**
 * The built-in login, consent and logout app (`/ui/oauth2/*` on the identity public plane) with the OAuth2
 * service in the same process, driven as a browser would over HTTP (a cookie jar, redirects followed by hand,
 * forms parsed from the pages) and with openid-client as the relying party: sign-in through the built-in
 * sign-in page, consent with its stateless CSRF token, remembered consent, `skip_consent` clients,
 * `prompt=login`, deny, another identity's consent request, and RP-initiated logout that ends both sessions.
 */
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startIdentityPlanes, type IdentityPlanes } from "../../services/identity/identity-service.js";
import type { OAuth2BridgeRef } from "../../services/identity/oauth2-bridge.js";
import { createIdentityDeps } from "../../services/identity/setup.js";
import { createMemoryIdentityStore } from "../../services/identity/store/memory-identity-store.js";
import type { IdentityStore } from "../../services/identity/store/identity-store.js";
import { CookieJar, createClient, startTestOAuth2, type TestOAuth2 } from "./harness.js";

const REDIRECT = "http://127.0.0.1:5555/cb";
const PASSWORD = "a long enough passphrase";
const HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const FORM = "application/x-www-form-urlencoded";

let store: IdentityStore;
let identity: IdentityPlanes;
let identityAdmin: string;
let oauth2: TestOAuth2;
const bridge: OAuth2BridgeRef = { current: undefined };
/** Sessions whose `authenticatedAt` the store reports as an hour old (for `prompt=login`). */
const agedSessions = new Set<string>();

beforeAll(async () => {
  store = createMemoryIdentityStore();
  const getSessionByTokenHash = store.getSessionByTokenHash.bind(store);
  store.getSessionByTokenHash = async (hash) => {
    const session = await getSessionByTokenHash(hash);
    return session !== undefined && agedSessions.has(session.id) ? { ...session, authenticatedAt: new Date(Date.now() - 3_600_000) } : session;
  };
  const deps = createIdentityDeps({ argon2: { memoryKiB: 1024, iterations: 1, parallelism: 1 } });
  identity = await startIdentityPlanes({
    store,
    schemas: deps.schemas,
    hasher: deps.hasher,
    policy: deps.policy,
    public: { host: "127.0.0.1", port: 0 },
    admin: { host: "127.0.0.1", port: 0 },
    sessionCacheTtlMillis: 0,
    shutdownTimeoutMillis: 100,
    oauth2: bridge,
  });
  identityAdmin = `http://127.0.0.1:${identity.ports.admin}`;
  const base = identity.publicBaseUrl;
  oauth2 = await startTestOAuth2({
    urls: () => ({ login: `${base}/ui/oauth2/login`, consent: `${base}/ui/oauth2/consent`, logout: `${base}/ui/oauth2/logout` }),
    accounts: async (subject) => {
      const entry = await store.getIdentity(subject);
      if (entry === undefined) return undefined;
      return { email: entry.identity.traits["email"], email_verified: entry.identity.verifiableAddresses[0]?.verified ?? false };
    },
  });
  bridge.current = oauth2.planes.flows;
});

afterAll(async () => {
  await oauth2?.close();
  await identity?.close();
  await store?.close();
});

// ---- a small browser ----

/** Where a navigation ended: the redirect URI (not fetched) or a page that does not move on. */
interface Landing {
  readonly url: URL;
  readonly status: number;
  readonly html: string;
  readonly headers: Headers;
  /** Every URL requested on the way, the last one included. */
  readonly visited: string[];
}

/**
 * Requests `start` (a GET, or the given form post) and follows redirects and `Refresh` headers, as a browser
 * does, until a page stays or the client's redirect URI is reached.
 */
async function browse(jar: CookieJar, start: string | URL, post?: URLSearchParams): Promise<Landing> {
  let url = new URL(start);
  let body = post;
  const visited: string[] = [];
  for (let hop = 0; hop < 30; hop++) {
    visited.push(url.href);
    if (url.href.startsWith(REDIRECT)) return { url, status: 0, html: "", headers: new Headers(), visited };
    const headers: Record<string, string> = { accept: HTML };
    if (jar.header() !== "") headers["cookie"] = jar.header();
    if (body !== undefined) headers["content-type"] = FORM;
    const res = await fetch(url, { method: body === undefined ? "GET" : "POST", headers, redirect: "manual", ...(body === undefined ? {} : { body }) });
    jar.store(res);
    body = undefined;
    const location = res.headers.get("location");
    const html = await res.text();
    if (res.status >= 300 && res.status < 400 && location !== null) {
      url = new URL(location, url);
      continue;
    }
    const refresh = /^\s*\d+\s*;\s*url=(.+)$/i.exec(res.headers.get("refresh") ?? "");
    if (res.status === 200 && refresh?.[1] !== undefined) {
      url = new URL(refresh[1], url);
      continue;
    }
    return { url, status: res.status, html, headers: res.headers, visited };
  }
  throw new Error(`too many hops from ${String(start)}`);
}

const decode = (text: string): string =>
  text.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&(amp|lt|gt|quot);/g, (_, e: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"' })[e] ?? "");

function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(/([a-zA-Z_:][\w:.-]*)(?:="([^"]*)")?/g)) out.set(m[1]!.toLowerCase(), decode(m[2] ?? ""));
  return out;
}

/** A page's (first) form: its action, and the fields a browser would send without the buttons. */
interface PageForm {
  readonly action: string;
  readonly fields: [string, string][];
  readonly checkboxes: { name: string; value: string; checked: boolean; disabled: boolean }[];
}

function formOf(page: Landing): PageForm {
  const match = /<form\b([^>]*)>([\s\S]*?)<\/form>/.exec(page.html);
  if (match === null) throw new Error(`no form on ${page.url.href} (${page.status}): ${page.html.slice(0, 800)}`);
  const action = attributes(match[1] ?? "").get("action") ?? "";
  const fields: [string, string][] = [];
  const checkboxes: PageForm["checkboxes"] = [];
  for (const input of (match[2] ?? "").matchAll(/<input\b([^>]*)>/g)) {
    const a = attributes(input[1] ?? "");
    const name = a.get("name");
    if (a.get("type") === "checkbox") {
      checkboxes.push({ name: name ?? "", value: a.get("value") ?? "on", checked: a.has("checked"), disabled: a.has("disabled") });
    } else if (a.get("type") === "hidden" && name !== undefined) fields.push([name, a.get("value") ?? ""]);
  }
  return { action: new URL(action, page.url).href, fields, checkboxes };
}

/** Submits a page's form: its hidden fields, its checked boxes (or `checked` instead), and `extra`. */
async function submit(jar: CookieJar, page: Landing, extra: Record<string, string>, checked?: (box: PageForm["checkboxes"][number]) => boolean): Promise<Landing> {
  const form = formOf(page);
  const body = new URLSearchParams(form.fields);
  for (const box of form.checkboxes) if (!box.disabled && box.name !== "" && (checked?.(box) ?? box.checked)) body.append(box.name, box.value);
  for (const [k, v] of Object.entries(extra)) body.set(k, v);
  return browse(jar, form.action, body);
}

// ---- identities, clients, authorization requests ----

let users = 0;

/** A new identity with a password (admin API). */
async function newUser(): Promise<{ id: string; email: string }> {
  const email = `user${++users}@example.com`;
  const res = await fetch(`${identityAdmin}/admin/identities`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ schema_id: "default", traits: { email }, credentials: { password: { config: { password: PASSWORD } } } }),
  });
  const json = (await res.json()) as { id: string };
  expect(res.status).toBe(201);
  return { id: json.id, email };
}

/** A confidential web client and its openid-client configuration. */
async function newClient(extra: Record<string, unknown> = {}): Promise<{ id: string; config: client.Configuration }> {
  const created = await createClient(oauth2.admin, {
    client_name: "Photo <Book>",
    client_uri: "https://photos.example/about",
    redirect_uris: [REDIRECT],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    scope: "openid offline_access email profile photos.read",
    ...extra,
  });
  const config = await client.discovery(new URL(oauth2.issuer), created.client_id, undefined, client.ClientSecretBasic(created.client_secret ?? ""), {
    execute: [client.allowInsecureRequests],
  });
  return { id: created.client_id, config };
}

/** An authorization request (PKCE, state, nonce) and what is needed to redeem its code. */
async function authorization(config: client.Configuration, scope = "openid email", extra: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope,
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    ...extra,
  });
  return {
    url,
    redeem: (callback: URL) => client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }),
  };
}

/** Signs the jar's browser in on the built-in sign-in page (no OAuth2 involved). */
async function signIn(jar: CookieJar, email: string): Promise<void> {
  const page = await browse(jar, `${identity.publicBaseUrl}/ui/login`);
  const done = await submit(jar, page, { identifier: email, password: PASSWORD, method: "password" });
  expect(done.url.pathname).toBe("/ui/welcome");
}

async function whoami(jar: CookieJar): Promise<number> {
  const res = await fetch(`${identity.publicBaseUrl}/sessions/whoami`, { headers: { cookie: jar.header(), accept: "application/json" } });
  await res.body?.cancel();
  return res.status;
}

async function consentSessions(subject: string): Promise<unknown[]> {
  return (await (await fetch(`${oauth2.admin}/admin/oauth2/auth/sessions/consent?subject=${encodeURIComponent(subject)}`)).json()) as unknown[];
}

const onPage = (landing: Landing, path: string): boolean => landing.url.href.startsWith(`${identity.publicBaseUrl}${path}`);

describe("sign-in and consent", () => {
  it("not signed in: sign-in page, back, consent page, Allow, code, tokens for the identity", async () => {
    const user = await newUser();
    const app = await newClient();
    const jar = new CookieJar();
    const auth = await authorization(app.config, "openid email offline_access");

    const loginPage = await browse(jar, auth.url);
    expect(loginPage.status).toBe(200);
    expect(onPage(loginPage, "/ui/login?flow=")).toBe(true);
    expect(loginPage.visited.some((u) => u.startsWith(`${identity.publicBaseUrl}/ui/oauth2/login?login_challenge=`))).toBe(true);

    const consentPage = await submit(jar, loginPage, { identifier: user.email, password: PASSWORD, method: "password" });
    expect(consentPage.status).toBe(200);
    expect(onPage(consentPage, "/ui/oauth2/consent?consent_challenge=")).toBe(true);
    // The client's name is shown escaped, with every requested scope checked and the decision remembered.
    expect(consentPage.html).toContain("Photo &#60;Book&#62;");
    expect(consentPage.html).toContain("https://photos.example/about");
    const form = formOf(consentPage);
    expect(form.action).toBe(`${identity.publicBaseUrl}/ui/oauth2/consent`);
    expect(form.fields.map(([k]) => k)).toEqual(expect.arrayContaining(["consent_challenge", "csrf_token"]));
    expect(form.checkboxes.filter((b) => b.name === "grant_scope").map((b) => [b.value, b.checked])).toEqual([
      ["email", true],
      ["offline_access", true],
    ]);
    expect(form.checkboxes.find((b) => b.name === "remember")?.checked).toBe(true);
    // Its CSP lets the form's redirects reach the issuer and the client.
    const csp = consentPage.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(new RegExp(`form-action [^;]*${new URL(oauth2.issuer).origin}`));
    expect(csp).toMatch(/form-action [^;]*http:\/\/127\.0\.0\.1:5555/);
    expect(csp).toContain("default-src 'none'");

    // The login was accepted for the identity, with the session's AAL and methods.
    const challenge = consentPage.url.searchParams.get("consent_challenge") ?? "";
    const request = (await (await fetch(`${oauth2.admin}/admin/oauth2/auth/requests/consent?consent_challenge=${encodeURIComponent(challenge)}`)).json()) as Record<string, unknown>;
    expect(request).toMatchObject({ subject: user.id, acr: "aal1", amr: ["pwd"], requested_scope: ["openid", "email", "offline_access"] });

    const callback = await submit(jar, consentPage, { action: "accept" });
    expect(callback.url.href.startsWith(REDIRECT)).toBe(true);
    expect(callback.url.searchParams.get("code")).not.toBeNull();
    const tokens = await auth.redeem(callback.url);
    const claims = tokens.claims();
    expect(claims?.sub).toBe(user.id);
    expect(claims?.["email"]).toBe(user.email);
    expect(tokens.scope?.split(" ")).toEqual(expect.arrayContaining(["openid", "email", "offline_access"]));
    expect(tokens.refresh_token).toBeDefined();
    expect(await whoami(jar)).toBe(200);
  });

  it("signed in already: no sign-in form, straight to the consent page; unchecked scopes are not granted", async () => {
    const user = await newUser();
    const app = await newClient();
    const jar = new CookieJar();
    await signIn(jar, user.email);
    const auth = await authorization(app.config, "openid email profile");
    const consentPage = await browse(jar, auth.url);
    expect(onPage(consentPage, "/ui/oauth2/consent?")).toBe(true);
    expect(consentPage.visited.some((u) => u.includes("/ui/oauth2/login?"))).toBe(true);
    expect(consentPage.visited.some((u) => u.includes("/ui/login"))).toBe(false);
    // `profile` unchecked; `openid` cannot be unchecked (it travels in a hidden field).
    const callback = await submit(jar, consentPage, { action: "accept" }, (box) => box.value !== "profile");
    const tokens = await auth.redeem(callback.url);
    expect(tokens.scope?.split(" ").sort()).toEqual(["email", "openid"]);
    expect(tokens.claims()?.sub).toBe(user.id);
  });

  it("remembers the decision: the next authorization skips the consent page; without remember it asks again", async () => {
    const user = await newUser();
    const app = await newClient();
    const first = new CookieJar();
    await signIn(first, user.email);
    const consentPage = await browse(first, (await authorization(app.config)).url);
    const callback = await submit(first, consentPage, { action: "accept" });
    expect(callback.url.searchParams.get("code")).not.toBeNull();

    // Another browser (no OAuth2 login session), the same identity: the login app signs it in, no consent page.
    const second = new CookieJar();
    await signIn(second, user.email);
    const auth = await authorization(app.config);
    const again = await browse(second, auth.url);
    expect(again.url.href.startsWith(REDIRECT)).toBe(true);
    expect(again.visited.some((u) => u.includes("/ui/oauth2/login?"))).toBe(true);
    expect(again.visited.some((u) => u.includes("/ui/oauth2/consent"))).toBe(false);
    expect((await auth.redeem(again.url)).claims()?.sub).toBe(user.id);

    // Not remembered: asked every time.
    const other = await newClient();
    const jar = new CookieJar();
    await signIn(jar, user.email);
    const page = await browse(jar, (await authorization(other.config)).url);
    await submit(jar, page, { action: "accept" }, (box) => box.name !== "remember");
    const next = await browse(jar, (await authorization(other.config)).url);
    expect(onPage(next, "/ui/oauth2/consent?")).toBe(true);
  });

  it("Deny sends access_denied to the client and grants nothing", async () => {
    const user = await newUser();
    const app = await newClient();
    const jar = new CookieJar();
    await signIn(jar, user.email);
    const page = await browse(jar, (await authorization(app.config)).url);
    const end = await submit(jar, page, { action: "reject" });
    expect(end.url.href.startsWith(REDIRECT)).toBe(true);
    expect(end.url.searchParams.get("error")).toBe("access_denied");
    expect(end.url.searchParams.get("error_description")).toBe("The user denied the request.");
    expect(await consentSessions(user.id)).toEqual([]);
  });

  it("refuses a consent post without the right CSRF token (403) and grants nothing", async () => {
    const user = await newUser();
    const app = await newClient();
    const jar = new CookieJar();
    await signIn(jar, user.email);
    const page = await browse(jar, (await authorization(app.config)).url);
    const form = formOf(page);
    const challenge = form.fields.find(([k]) => k === "consent_challenge")?.[1] ?? "";
    const token = form.fields.find(([k]) => k === "csrf_token")?.[1] ?? "";
    const post = async (fields: Record<string, string>, cookie = jar.header()): Promise<Response> =>
      fetch(form.action, { method: "POST", redirect: "manual", headers: { accept: HTML, cookie, "content-type": FORM }, body: new URLSearchParams(fields) });

    const missing = await post({ consent_challenge: challenge, grant_scope: "openid", action: "accept" });
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain("security_csrf_violation");
    // Change a middle character: the last ones may be padding bits (or already "AA"), which made this flaky.
    const mid = Math.floor(token.length / 2);
    const forged = `${token.slice(0, mid)}${token[mid] === "A" ? "B" : "A"}${token.slice(mid + 1)}`;
    const wrong = await post({ consent_challenge: challenge, csrf_token: forged, grant_scope: "openid", action: "accept" });
    expect(wrong.status).toBe(403);
    // A token for another challenge, or without the session cookie, does not do either.
    const stolen = await post({ consent_challenge: challenge, csrf_token: token, action: "accept" }, "");
    expect(stolen.status).toBe(403);
    const otherJar = new CookieJar();
    await signIn(otherJar, user.email);
    const elsewhere = await post({ consent_challenge: challenge, csrf_token: token, action: "accept" }, otherJar.header());
    expect(elsewhere.status).toBe(403);
    expect(await consentSessions(user.id)).toEqual([]);

    // The request is still open: the real form still works.
    const callback = await submit(jar, page, { action: "accept" });
    expect(callback.url.searchParams.get("code")).not.toBeNull();
    expect(await consentSessions(user.id)).toHaveLength(1);
    // A second post of the same (handled) form goes on to where the first went.
    const replay = await submit(jar, page, { action: "accept" });
    expect(replay.visited[1]?.startsWith(`${oauth2.issuer}/oauth2/auth/`)).toBe(true);
    expect(await consentSessions(user.id)).toHaveLength(1);
  });

  it("does not let another identity's session see or answer a consent request", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const app = await newClient();
    const aliceJar = new CookieJar();
    await signIn(aliceJar, alice.email);
    const alicePage = await browse(aliceJar, (await authorization(app.config)).url);
    const consentUrl = alicePage.url.href;

    const bobJar = new CookieJar();
    await signIn(bobJar, bob.email);
    const bobView = await browse(bobJar, consentUrl);
    expect(bobView.status).toBe(403);
    expect(bobView.html).not.toContain("csrf_token");
    expect(bobView.html).toContain(bob.email);
    // Bob's own valid token for that challenge is not enough either.
    const challenge = new URL(consentUrl).searchParams.get("consent_challenge") ?? "";
    const { formToken } = await import("../../services/identity/ui/oauth2-app.js");
    const bobSession = (await (await fetch(`${identity.publicBaseUrl}/sessions/whoami`, { headers: { cookie: bobJar.header() } })).json()) as { id: string };
    const bobRecord = await store.getSession(bobSession.id);
    const res = await fetch(`${identity.publicBaseUrl}/ui/oauth2/consent`, {
      method: "POST",
      redirect: "manual",
      headers: { accept: HTML, cookie: bobJar.header(), "content-type": FORM },
      body: new URLSearchParams({ consent_challenge: challenge, csrf_token: formToken(bobRecord?.tokenHash ?? "", "consent", challenge), grant_scope: "openid", action: "accept" }),
    });
    expect(res.status).toBe(403);
    expect(await consentSessions(alice.id)).toEqual([]);
    expect(await consentSessions(bob.id)).toEqual([]);

    // Not signed in at all: off to the sign-in page, coming back to the consent page.
    const anonymous = await fetch(consentUrl, { redirect: "manual", headers: { accept: HTML } });
    expect(anonymous.status).toBe(303);
    const location = new URL(anonymous.headers.get("location") ?? "");
    expect(location.pathname).toBe("/ui/login");
    expect(location.searchParams.get("return_to")).toBe(consentUrl);
  });

  it("never shows the consent page for a skip_consent client", async () => {
    const user = await newUser();
    const app = await newClient({ skip_consent: true });
    const jar = new CookieJar();
    const auth = await authorization(app.config, "openid email");
    const loginPage = await browse(jar, auth.url);
    const end = await submit(jar, loginPage, { identifier: user.email, password: PASSWORD, method: "password" });
    expect(end.url.href.startsWith(REDIRECT)).toBe(true);
    expect(end.visited.some((u) => u.includes("/ui/oauth2/consent"))).toBe(false);
    const tokens = await auth.redeem(end.url);
    expect(tokens.claims()?.["email"]).toBe(user.email);
  });

  it("answers a consent post for an app's custom-scheme redirect URI with a page that moves on (not a redirect form-action would block)", async () => {
    const user = await newUser();
    const native = "com.example.photos:/callback";
    const created = await createClient(oauth2.admin, { client_name: "Native", redirect_uris: [native], token_endpoint_auth_method: "none", scope: "openid" });
    const config = await client.discovery(new URL(oauth2.issuer), created.client_id, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: native,
      scope: "openid",
      state: client.randomState(),
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: "S256",
    });
    const jar = new CookieJar();
    await signIn(jar, user.email);
    const page = await browse(jar, url);
    expect(onPage(page, "/ui/oauth2/consent?")).toBe(true);
    const form = formOf(page);
    const res = await fetch(form.action, {
      method: "POST",
      redirect: "manual",
      headers: { accept: HTML, cookie: jar.header(), "content-type": FORM },
      body: new URLSearchParams([...form.fields, ["action", "accept"]]),
    });
    expect(res.status).toBe(200);
    const refresh = /^0;url=(.+)$/.exec(res.headers.get("refresh") ?? "")?.[1] ?? "";
    expect(refresh.startsWith(`${oauth2.issuer}/oauth2/auth/`)).toBe(true);
    expect(await res.text()).toContain("Continue");
  });

  it("prompt=login sends a signed-in browser through a fresh sign-in", async () => {
    const user = await newUser();
    const app = await newClient({ skip_consent: true });
    const jar = new CookieJar();
    await signIn(jar, user.email);
    const before = (await (await fetch(`${identity.publicBaseUrl}/sessions/whoami`, { headers: { cookie: jar.header() } })).json()) as { id: string };
    agedSessions.add(before.id);
    const auth = await authorization(app.config, "openid", { prompt: "login" });
    const page = await browse(jar, auth.url);
    expect(onPage(page, "/ui/login?flow=")).toBe(true);
    const refresh = page.visited.find((u) => u.includes("/ui/login?"));
    expect(new URL(refresh ?? "").searchParams.get("refresh")).toBe("true");
    expect(page.html).toContain("Confirm it is you");
    const end = await submit(jar, page, { identifier: user.email, password: PASSWORD, method: "password" });
    expect(end.url.href.startsWith(REDIRECT)).toBe(true);
    expect((await auth.redeem(end.url)).claims()?.sub).toBe(user.id);

    // Without prompt=login the same old session is enough.
    agedSessions.clear();
    const plain = await authorization(app.config, "openid");
    const other = new CookieJar();
    await signIn(other, user.email);
    const after = (await (await fetch(`${identity.publicBaseUrl}/sessions/whoami`, { headers: { cookie: other.header() } })).json()) as { id: string };
    agedSessions.add(after.id);
    expect((await browse(other, plain.url)).url.href.startsWith(REDIRECT)).toBe(true);
    agedSessions.clear();
  });
});

describe("logout", () => {
  /** Signs in through the app (remembered OAuth2 login) and returns the jar and the ID token. */
  async function signedInWithTokens(app: { config: client.Configuration }, email: string): Promise<{ jar: CookieJar; idToken: string }> {
    const jar = new CookieJar();
    const auth = await authorization(app.config);
    const loginPage = await browse(jar, auth.url);
    const consentPage = await submit(jar, loginPage, { identifier: email, password: PASSWORD, method: "password" });
    const callback = await submit(jar, consentPage, { action: "accept" });
    const tokens = await auth.redeem(callback.url);
    return { jar, idToken: tokens.id_token ?? "" };
  }

  it("RP-initiated logout: the page, Yes, and both the identity session and the OAuth2 login session are gone", async () => {
    const user = await newUser();
    const app = await newClient();
    const { jar, idToken } = await signedInWithTokens(app, user.email);
    expect(await whoami(jar)).toBe(200);

    const page = await browse(jar, client.buildEndSessionUrl(app.config, { id_token_hint: idToken }));
    expect(onPage(page, "/ui/oauth2/logout?logout_challenge=")).toBe(true);
    expect(page.status).toBe(200);
    expect(page.html).toContain("Sign out of Photo &#60;Book&#62;?");
    expect(page.headers.get("content-security-policy")).toContain(new URL(oauth2.issuer).origin);
    const form = formOf(page);
    expect(form.fields.map(([k]) => k)).toEqual(["logout_challenge", "csrf_token"]);

    // A forged post does nothing.
    const forged = await fetch(form.action, {
      method: "POST",
      redirect: "manual",
      headers: { accept: HTML, cookie: jar.header(), "content-type": FORM },
      body: new URLSearchParams({ logout_challenge: form.fields[0]?.[1] ?? "", csrf_token: "nope", action: "accept" }),
    });
    expect(forged.status).toBe(403);
    expect(await whoami(jar)).toBe(200);

    // Yes: the identity session ends and its cookie goes; the issuer's confirmation page posts itself.
    const confirmation = await submit(jar, page, { action: "accept" });
    expect(await whoami(jar)).toBe(401);
    expect(jar.header()).not.toContain("ory_kratos_session");
    expect(confirmation.url.href.startsWith(`${oauth2.issuer}/oauth2/sessions/logout/verify`)).toBe(true);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirmation.html)?.[1] ?? "";
    const confirmed = await fetch(`${oauth2.issuer}/oauth2/sessions/logout/confirm`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: jar.header(), "content-type": FORM },
      body: new URLSearchParams({ xsrf, logout: "yes" }),
    });
    jar.store(confirmed);
    expect([200, 303]).toContain(confirmed.status);

    // The OAuth2 login session is gone too: the next authorization asks the login app, which asks for a sign-in.
    const next = await browse(jar, (await authorization(app.config)).url);
    expect(next.visited.some((u) => u.includes("/ui/oauth2/login?"))).toBe(true);
    expect(onPage(next, "/ui/login?flow=")).toBe(true);
  });

  it("No keeps both sessions", async () => {
    const user = await newUser();
    const app = await newClient();
    const { jar, idToken } = await signedInWithTokens(app, user.email);
    const page = await browse(jar, client.buildEndSessionUrl(app.config, { id_token_hint: idToken }));
    const stay = await submit(jar, page, { action: "reject" });
    expect(stay.status).toBe(200);
    expect(stay.html).toContain("You are still signed in");
    expect(await whoami(jar)).toBe(200);
    // Still signed in to the OAuth2 service: straight back with a code (consent remembered).
    const next = await browse(jar, (await authorization(app.config)).url);
    expect(next.url.searchParams.get("code")).not.toBeNull();
    expect(next.visited.some((u) => u.includes("/ui/oauth2/login"))).toBe(false);
  });

  it("without an identity session the logout is accepted at once", async () => {
    const user = await newUser();
    const app = await newClient();
    const { jar, idToken } = await signedInWithTokens(app, user.email);
    // The identity session ends elsewhere (say, the welcome page's sign-out); the OAuth2 one is left.
    const whoamiJson = (await (await fetch(`${identity.publicBaseUrl}/sessions/whoami`, { headers: { cookie: jar.header() } })).json()) as { id: string };
    await fetch(`${identityAdmin}/admin/sessions/${whoamiJson.id}`, { method: "DELETE" });
    expect(await whoami(jar)).toBe(401);
    const landing = await browse(jar, client.buildEndSessionUrl(app.config, { id_token_hint: idToken }));
    expect(landing.visited.some((u) => u.includes("/ui/oauth2/logout?logout_challenge="))).toBe(true);
    expect(landing.url.href.startsWith(`${oauth2.issuer}/oauth2/sessions/logout/verify`)).toBe(true);
    expect(landing.html).toContain('name="xsrf"');
  });
});

describe("errors", () => {
  it("answers a forged or missing challenge with an error page, and 404 without an OAuth2 service", async () => {
    const forged = await fetch(`${identity.publicBaseUrl}/ui/oauth2/login?login_challenge=abc.def`, { headers: { accept: HTML } });
    expect(forged.status).toBe(404);
    expect(forged.headers.get("content-type")).toContain("text/html");
    expect(forged.headers.get("content-security-policy")).toContain("default-src 'none'");
    const missing = await fetch(`${identity.publicBaseUrl}/ui/oauth2/consent`, { headers: { accept: HTML } });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain("consent_challenge");

    const saved = bridge.current;
    bridge.current = undefined;
    try {
      const none = await fetch(`${identity.publicBaseUrl}/ui/oauth2/login?login_challenge=x`, { headers: { accept: HTML } });
      expect(none.status).toBe(404);
    } finally {
      bridge.current = saved;
    }
  });

  it("sends a handled login challenge on to where it went (410 → redirect_to)", async () => {
    const user = await newUser();
    const app = await newClient();
    const jar = new CookieJar();
    await signIn(jar, user.email);
    const first = await fetch((await authorization(app.config)).url, { redirect: "manual", headers: { cookie: jar.header() } });
    jar.store(first);
    const loginUrl = first.headers.get("location") ?? "";
    expect(loginUrl).toContain("/ui/oauth2/login?login_challenge=");
    const accepted = await fetch(loginUrl, { redirect: "manual", headers: { cookie: jar.header(), accept: HTML } });
    expect(accepted.status).toBe(303);
    const again = await fetch(loginUrl, { redirect: "manual", headers: { cookie: jar.header(), accept: HTML } });
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe(accepted.headers.get("location"));
    // A HEAD does not accept anything.
    const head = await fetch(loginUrl, { method: "HEAD", headers: { cookie: jar.header(), accept: HTML } });
    expect(head.status).toBe(405);
  });
});
