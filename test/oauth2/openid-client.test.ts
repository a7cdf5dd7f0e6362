/**
 * The OAuth2 service against a real relying party, openid-client v6: discovery, the authorization-code flow
 * with PKCE through login and consent (driven headlessly with Hydra's admin accept APIs), client
 * credentials, refresh with rotation and reuse detection, introspection (public and admin), revocation,
 * userinfo, and the errors a client relies on.
 */
import { tamper } from "../../engine/store/contract-helpers.js";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptingApps, adminPut, CookieJar, createClient, followFlow, startTestOAuth2, UNUSED_APP, type TestOAuth2 } from "./harness.js";

const REDIRECT = "http://127.0.0.1:5555/cb";

let oauth2: TestOAuth2;
let webClient: { client_id: string; client_secret?: string };
let config: client.Configuration;

async function discover(id: string, auth: client.ClientAuth): Promise<client.Configuration> {
  return client.discovery(new URL(oauth2.issuer), id, undefined, auth, { execute: [client.allowInsecureRequests] });
}

/** Runs the code flow for `subject` and returns the tokens. */
async function codeFlow(subject: string, scope = "openid offline_access email profile", consent: Record<string, unknown> = {}): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const start = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope,
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
  });
  const callback = await followFlow(start, REDIRECT, acceptingApps(oauth2.admin, subject, consent));
  return client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: scope.includes("openid") });
}

beforeAll(async () => {
  oauth2 = await startTestOAuth2();
  webClient = await createClient(oauth2.admin, {
    client_name: "web app",
    redirect_uris: [REDIRECT],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    scope: "openid offline_access email profile photos.read",
  });
  config = await discover(webClient.client_id, client.ClientSecretBasic(webClient.client_secret ?? ""));
});

afterAll(async () => {
  await oauth2?.close();
});

describe("discovery", () => {
  it("publishes Hydra's endpoints plus introspection, S256 only and RFC 9207 iss", async () => {
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(oauth2.issuer);
    expect(meta.authorization_endpoint).toBe(`${oauth2.issuer}/oauth2/auth`);
    expect(meta.token_endpoint).toBe(`${oauth2.issuer}/oauth2/token`);
    expect(meta.revocation_endpoint).toBe(`${oauth2.issuer}/oauth2/revoke`);
    expect(meta.introspection_endpoint).toBe(`${oauth2.issuer}/oauth2/introspect`);
    expect(meta.userinfo_endpoint).toBe(`${oauth2.issuer}/userinfo`);
    expect(meta.jwks_uri).toBe(`${oauth2.issuer}/.well-known/jwks.json`);
    expect(meta.end_session_endpoint).toBe(`${oauth2.issuer}/oauth2/sessions/logout`);
    expect(meta.device_authorization_endpoint).toBe(`${oauth2.issuer}/oauth2/device/auth`);
    expect(meta.code_challenge_methods_supported).toEqual(["S256"]);
    expect(meta.authorization_response_iss_parameter_supported).toBe(true);
    expect(meta.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(["RS256", "ES256"]));
  });

  it("serves the same document as RFC 8414 metadata, and a JWKS without private members", async () => {
    const rfc8414 = (await (await fetch(`${oauth2.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(rfc8414["issuer"]).toBe(oauth2.issuer);
    const jwks = (await (await fetch(`${oauth2.issuer}/.well-known/jwks.json`)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.map((k) => k["alg"])).toEqual(expect.arrayContaining(["RS256", "ES256"]));
    for (const key of jwks.keys) expect(key["d"]).toBeUndefined();
  });
});

describe("authorization code with PKCE", () => {
  it("issues ID, access and refresh tokens through login and consent", async () => {
    const tokens = await codeFlow("alice");
    expect(tokens.access_token).toMatch(/^gh_at_[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
    expect(tokens.refresh_token).toMatch(/^gh_rt_/);
    const claims = tokens.claims();
    expect(claims?.sub).toBe("alice");
    expect(claims?.["email"]).toBe("alice@example.test");
    expect(tokens.scope?.split(" ")).toEqual(expect.arrayContaining(["openid", "offline_access", "email"]));
    const info = await client.fetchUserInfo(config, tokens.access_token, "alice");
    expect(info.email).toBe("alice@example.test");
    expect(info.name).toBe("User alice");
  });

  it("puts custom scopes on the access token and consent session claims in ID tokens and introspection", async () => {
    const tokens = await codeFlow("bob", "openid photos.read", { session: { id_token: { tenant: "t1" }, access_token: { plan: "gold" } } });
    expect(tokens.claims()?.["tenant"]).toBe("t1");
    const form = new URLSearchParams({ token: tokens.access_token });
    const res = await fetch(`${oauth2.admin}/admin/oauth2/introspect`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form });
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ active: true, sub: "bob", client_id: webClient.client_id, token_use: "access_token", ext: { plan: "gold" } });
    expect(String(body["scope"]).split(" ")).toEqual(expect.arrayContaining(["openid", "photos.read"]));
  });

  it("refuses a scope the client is not registered for", async () => {
    const start = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: "openid admin.everything",
      state: client.randomState(),
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: "S256",
    });
    const end = await followFlow(start, REDIRECT, {});
    expect(end.searchParams.get("error")).toBe("invalid_scope");
  });

  it("rejects a wrong PKCE verifier with invalid_grant", async () => {
    const state = client.randomState();
    const start = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: "openid",
      state,
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: "S256",
    });
    const callback = await followFlow(start, REDIRECT, acceptingApps(oauth2.admin, "carol"));
    await expect(client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: state })).rejects.toMatchObject({
      error: "invalid_grant",
    });
  });

  it("refuses a code used twice and revokes the tokens issued from it", async () => {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const start = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: "openid offline_access",
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
    });
    const callback = await followFlow(start, REDIRECT, acceptingApps(oauth2.admin, "dave"));
    const first = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    await expect(client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state })).rejects.toMatchObject({ error: "invalid_grant" });
    const introspected = await client.tokenIntrospection(config, first.access_token);
    expect(introspected.active).toBe(false);
  });

  it("shows an error page and does not redirect for an unregistered redirect URI", async () => {
    const url = client.buildAuthorizationUrl(config, { redirect_uri: "http://127.0.0.1:5555/evil", scope: "openid", state: client.randomState() });
    const res = await fetch(url, { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.text()).toContain("redirect_uri");
  });

  it("requires PKCE from public clients", async () => {
    const spa = await createClient(oauth2.admin, { redirect_uris: [REDIRECT], token_endpoint_auth_method: "none", scope: "openid" });
    const spaConfig = await discover(spa.client_id, client.None());
    const url = client.buildAuthorizationUrl(spaConfig, { redirect_uri: REDIRECT, scope: "openid", state: client.randomState() });
    const end = await followFlow(url, REDIRECT, {});
    expect(end.searchParams.get("error")).toBe("invalid_request");
    expect(end.searchParams.get("error_description")).toMatch(/PKCE/);
  });

  it("sends a login rejection back to the client", async () => {
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state: client.randomState(), code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: "S256" });
    const end = await followFlow(start, REDIRECT, {
      onLogin: (challenge) => adminPut(oauth2.admin, `/admin/oauth2/auth/requests/login/reject?login_challenge=${challenge}`, { error: "access_denied", error_description: "The user said no." }),
    });
    expect(end.searchParams.get("error")).toBe("access_denied");
    expect(end.searchParams.get("error_description")).toBe("The user said no.");
  });
});

describe("login and consent requests", () => {
  it("describe the request, and a handled challenge answers 410 with the same redirect", async () => {
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid email", state: client.randomState(), login_hint: "erin@example.test", code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: "S256" });
    let seen: Record<string, unknown> | undefined;
    let firstRedirect = "";
    await followFlow(start, REDIRECT, {
      async onLogin(challenge) {
        seen = (await (await fetch(`${oauth2.admin}/admin/oauth2/auth/requests/login?login_challenge=${challenge}`)).json()) as Record<string, unknown>;
        firstRedirect = await adminPut(oauth2.admin, `/admin/oauth2/auth/requests/login/accept?login_challenge=${challenge}`, { subject: "erin" });
        const again = await fetch(`${oauth2.admin}/admin/oauth2/auth/requests/login/accept?login_challenge=${challenge}`, { method: "PUT", body: JSON.stringify({ subject: "erin" }) });
        expect(again.status).toBe(410);
        expect(((await again.json()) as { redirect_to: string }).redirect_to).toBe(firstRedirect);
        return firstRedirect;
      },
      onConsent: acceptingApps(oauth2.admin, "erin").onConsent,
    });
    expect(seen).toMatchObject({
      skip: false,
      requested_scope: ["openid", "email"],
      client: { client_id: webClient.client_id, client_name: "web app" },
      oidc_context: { login_hint: "erin@example.test" },
    });
    expect(seen?.["client"]).not.toHaveProperty("client_secret");
    expect(String(seen?.["request_url"])).toContain(`${oauth2.issuer}/oauth2/auth?`);
  });

  it("resumes an accepted login only with the verifier its redirect_to carries", async () => {
    // The attacker starts an authorization in their own browser and gets the victim's login app to accept it.
    const attacker = new CookieJar();
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state: client.randomState(), code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: "S256" });
    const first = await fetch(start, { redirect: "manual" });
    attacker.store(first);
    const challenge = new URL(first.headers.get("location") ?? "").searchParams.get("login_challenge") ?? "";
    const redirectTo = new URL(await adminPut(oauth2.admin, `/admin/oauth2/auth/requests/login/accept?login_challenge=${challenge}`, { subject: "victim" }));
    expect(redirectTo.searchParams.get("login_verifier")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Without the verifier (it went to the victim's browser), the attacker's browser cannot resume.
    const stripped = new URL(redirectTo);
    stripped.searchParams.delete("login_verifier");
    const hijack = await fetch(stripped, { redirect: "manual", headers: { cookie: attacker.header() } });
    expect(hijack.status).toBe(403);
    const wrong = new URL(redirectTo);
    wrong.searchParams.set("login_verifier", "x".repeat(43));
    expect((await fetch(wrong, { redirect: "manual", headers: { cookie: attacker.header() } })).status).toBe(403);
    // The victim's browser has the verifier but not the attacker's resume cookie.
    const victim = await fetch(redirectTo, { redirect: "manual" });
    expect(victim.status).toBeGreaterThanOrEqual(400);
  });

  it("puts the login's acr and amr in the ID token", async () => {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" });
    const callback = await followFlow(start, REDIRECT, acceptingApps(oauth2.admin, "lena", {}, { acr: "aal2", amr: ["pwd", "otp"] }));
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()).toMatchObject({ sub: "lena", acr: "aal2", amr: ["pwd", "otp"] });
    expect(typeof tokens.claims()?.auth_time).toBe("number");
  });

  it("answers 404 for a forged challenge and 400 without one", async () => {
    const forged = await fetch(`${oauth2.admin}/admin/oauth2/auth/requests/login?login_challenge=abc.def`);
    expect(forged.status).toBe(404);
    expect(await forged.json()).toMatchObject({ error: "not_found" });
    const missing = await fetch(`${oauth2.admin}/admin/oauth2/auth/requests/consent`);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error_description: string }).error_description).toContain("consent_challenge");
  });

  it("remembers consent per client and scopes, and revoking it revokes the tokens", async () => {
    let consents = 0;
    const apps = acceptingApps(oauth2.admin, "frank", { remember: true });
    const counting = { onLogin: apps.onLogin, onConsent: async (c: string) => (consents++, apps.onConsent(c)) };
    const run = async (scope: string): Promise<URL> => {
      const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope, state: client.randomState(), code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: "S256" });
      return followFlow(start, REDIRECT, counting, new CookieJar());
    };
    await run("openid email");
    await run("openid email");
    expect(consents).toBe(1);
    await run("openid email profile");
    expect(consents).toBe(2);
    const list = (await (await fetch(`${oauth2.admin}/admin/oauth2/auth/sessions/consent?subject=frank`)).json()) as Record<string, unknown>[];
    expect(list.length).toBeGreaterThan(0);
    expect(list[0]).toMatchObject({ remember: true, consent_request: { client: { client_id: webClient.client_id } } });
    const tokens = await codeFlow("frank", "openid email offline_access", { remember: true });
    const revoke = await fetch(`${oauth2.admin}/admin/oauth2/auth/sessions/consent?subject=frank&client=${webClient.client_id}`, { method: "DELETE" });
    expect(revoke.status).toBe(204);
    expect((await client.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token ?? "")).rejects.toMatchObject({ error: "invalid_grant" });
    await run("openid email");
    expect(consents).toBe(3);
  });
});

describe("refresh tokens", () => {
  it("rotate on every use; reusing a spent one revokes the whole family", async () => {
    const tokens = await codeFlow("gina");
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token ?? "");
    expect(refreshed.refresh_token).toBeDefined();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await client.tokenIntrospection(config, refreshed.access_token)).active).toBe(true);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token ?? "")).rejects.toMatchObject({ error: "invalid_grant" });
    expect((await client.tokenIntrospection(config, refreshed.access_token)).active).toBe(false);
    await expect(client.refreshTokenGrant(config, refreshed.refresh_token ?? "")).rejects.toMatchObject({ error: "invalid_grant" });
  });

  it("of two concurrent refreshes with one token, exactly one succeeds", async () => {
    const tokens = await codeFlow("hank");
    const results = await Promise.allSettled([client.refreshTokenGrant(config, tokens.refresh_token ?? ""), client.refreshTokenGrant(config, tokens.refresh_token ?? "")]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });
});

describe("client credentials", () => {
  let machine: { client_id: string; client_secret?: string };
  let machineConfig: client.Configuration;
  beforeAll(async () => {
    machine = await createClient(oauth2.admin, { grant_types: ["client_credentials"], response_types: [], scope: "read write", token_endpoint_auth_method: "client_secret_post" });
    machineConfig = await discover(machine.client_id, client.ClientSecretPost(machine.client_secret ?? ""));
  });

  it("issues an access token for allowed scopes", async () => {
    const tokens = await client.clientCredentialsGrant(machineConfig, { scope: "read" });
    expect(tokens.access_token).toMatch(/^gh_at_/);
    expect(tokens.refresh_token).toBeUndefined();
    const introspected = await client.tokenIntrospection(machineConfig, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, client_id: machine.client_id, scope: "read" });
  });

  it("refuses a scope outside the client's", async () => {
    await expect(client.clientCredentialsGrant(machineConfig, { scope: "delete" })).rejects.toMatchObject({ error: "invalid_scope" });
  });

  it("answers invalid_client with 401 for a wrong secret; the right one may come by basic or post", async () => {
    const wrong = await discover(machine.client_id, client.ClientSecretPost("not-the-secret"));
    await expect(client.clientCredentialsGrant(wrong, { scope: "read" })).rejects.toMatchObject({ error: "invalid_client", status: 401 });
    const basic = await discover(machine.client_id, client.ClientSecretBasic(machine.client_secret ?? ""));
    expect((await client.clientCredentialsGrant(basic, { scope: "read" })).access_token).toMatch(/^gh_at_/);
    const none = await discover(machine.client_id, client.None());
    await expect(client.clientCredentialsGrant(none, { scope: "read" })).rejects.toMatchObject({ error: "invalid_client", status: 401 });
  });

  it("keeps no secret or token in the store", async () => {
    const tokens = await client.clientCredentialsGrant(machineConfig, { scope: "read" });
    const stored = await oauth2.store.getClient(machine.client_id);
    expect(stored?.client_secret).not.toContain(machine.client_secret ?? "");
    expect(JSON.stringify(await oauth2.store.find("ClientCredentials", tokens.access_token))).toBe(undefined);
  });
});

describe("revocation and introspection", () => {
  it("revoking a refresh token also ends the access tokens issued with it", async () => {
    const tokens = await codeFlow("ivy");
    await client.tokenRevocation(config, tokens.refresh_token ?? "");
    expect((await client.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token ?? "")).rejects.toMatchObject({ error: "invalid_grant" });
  });

  it("admin introspection checks the scope parameter and is inactive for junk", async () => {
    const tokens = await codeFlow("jack", "openid email");
    const post = async (form: Record<string, string>): Promise<Record<string, unknown>> =>
      (await (await fetch(`${oauth2.admin}/oauth2/introspect`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form) })).json()) as Record<string, unknown>;
    expect(await post({ token: tokens.access_token, scope: "email" })).toMatchObject({ active: true, token_use: "access_token" });
    expect(await post({ token: tokens.access_token, scope: "photos.read" })).toEqual({ active: false });
    expect(await post({ token: "gh_at_nonsense" })).toEqual({ active: false });
    // The MAC's first character (its last ones may be padding bits, or already "AA").
    const tampered = tamper(tokens.access_token);
    expect(await post({ token: tampered })).toEqual({ active: false });
  });
});

describe("logout", () => {
  it("RP-initiated logout goes through the logout app and ends the login session", async () => {
    const jar = new CookieJar();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" });
    const callback = await followFlow(start, REDIRECT, acceptingApps(oauth2.admin, "kate", {}, { remember: true }), jar);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const end = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token ?? "", post_logout_redirect_uri: REDIRECT, state: "bye" });
    // post_logout_redirect_uri must be registered; this client registered none, so expect the provider's refusal.
    const refused = await fetch(end, { redirect: "manual", headers: { cookie: jar.header() } });
    expect(refused.status).toBe(400);

    const plain = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token ?? "" });
    const toApp = await fetch(plain, { redirect: "manual", headers: { cookie: jar.header() } });
    jar.store(toApp);
    const location = new URL(toApp.headers.get("location") ?? "");
    expect(location.href.startsWith(`${UNUSED_APP}/logout`)).toBe(true);
    const challenge = location.searchParams.get("logout_challenge") ?? "";
    const request = (await (await fetch(`${oauth2.admin}/admin/oauth2/auth/requests/logout?logout_challenge=${challenge}`)).json()) as Record<string, unknown>;
    expect(request).toMatchObject({ subject: "kate", rp_initiated: true, client: { client_id: webClient.client_id } });
    const redirectTo = await adminPut(oauth2.admin, `/admin/oauth2/auth/requests/logout/accept?logout_challenge=${challenge}`, {});
    const page = await fetch(redirectTo, { headers: { cookie: jar.header() } });
    const html = await page.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
    const confirm = await fetch(`${oauth2.issuer}/oauth2/sessions/logout/confirm`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: jar.header(), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ xsrf, logout: "yes" }),
    });
    jar.store(confirm);
    expect([200, 303]).toContain(confirm.status);
    // The login is gone: the next authorization asks the login app again.
    let logins = 0;
    const again = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state: client.randomState(), code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: "S256" });
    const apps = acceptingApps(oauth2.admin, "kate");
    await followFlow(again, REDIRECT, { onLogin: async (c) => (logins++, apps.onLogin(c)), onConsent: apps.onConsent }, jar);
    expect(logins).toBe(1);
    const reused = await fetch(redirectTo, { headers: { cookie: jar.header() } });
    expect(reused.status).toBe(404);
  });
});
