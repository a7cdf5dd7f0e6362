/**
 * Logout reaching the clients: RP-initiated logout accepted by the logout app loads each client's
 * front-channel logout URL (with `iss` and the client's `sid`) in a frame and posts a back-channel logout
 * token (a JWT with `iss`, `aud`, `sid`, `events`, `exp`, verifiable with the JWKS) to its
 * `backchannel_logout_uri`.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createRemoteJWKSet, jwtVerify } from "jose";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptingApps, adminPut, CookieJar, createClient, followFlow, startTestOAuth2, UNUSED_APP, type TestOAuth2 } from "./harness.js";

const REDIRECT = "http://127.0.0.1:5555/cb";
let oauth2: TestOAuth2;
let receiver: Server;
let receiverUrl: string;
const backChannel: string[] = [];

beforeAll(async () => {
  oauth2 = await startTestOAuth2();
  receiver = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (req.url === "/backchannel") backChannel.push(new URLSearchParams(body).get("logout_token") ?? "");
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
});

afterAll(async () => {
  await oauth2?.close();
  await new Promise<void>((resolve) => receiver?.close(() => resolve()));
});

describe("front- and back-channel logout", () => {
  it("frames the front-channel URL and posts a verifiable logout token", async () => {
    const rp = await createClient(oauth2.admin, {
      redirect_uris: [REDIRECT],
      post_logout_redirect_uris: [`${REDIRECT}/bye`],
      scope: "openid",
      frontchannel_logout_uri: `${receiverUrl}/frontchannel`,
      backchannel_logout_uri: `${receiverUrl}/backchannel`,
      backchannel_logout_session_required: true,
    });
    const config = await client.discovery(new URL(oauth2.issuer), rp.client_id, undefined, client.ClientSecretBasic(rp.client_secret ?? ""), { execute: [client.allowInsecureRequests] });
    expect(config.serverMetadata().backchannel_logout_supported).toBe(true);
    const jar = new CookieJar();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" });
    const callback = await followFlow(start, REDIRECT, acceptingApps(oauth2.admin, "max", {}, { remember: true }), jar);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const sid = tokens.claims()?.["sid"];
    expect(typeof sid).toBe("string");

    const end = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token ?? "", post_logout_redirect_uri: `${REDIRECT}/bye`, state: "s1" });
    const toApp = await fetch(end, { redirect: "manual", headers: { cookie: jar.header() } });
    jar.store(toApp);
    const location = new URL(toApp.headers.get("location") ?? "");
    expect(location.href.startsWith(`${UNUSED_APP}/logout`)).toBe(true);
    const redirectTo = await adminPut(oauth2.admin, `/admin/oauth2/auth/requests/logout/accept?logout_challenge=${location.searchParams.get("logout_challenge")}`, {});
    const page = await fetch(redirectTo, { headers: { cookie: jar.header() } });
    const html = await page.text();
    const frame = /<iframe class="fc" hidden src="([^"]+)"/.exec(html)?.[1]?.replace(/&#38;/g, "&") ?? "";
    const frameUrl = new URL(frame);
    expect(frameUrl.origin + frameUrl.pathname).toBe(`${receiverUrl}/frontchannel`);
    expect(frameUrl.searchParams.get("iss")).toBe(oauth2.issuer);
    expect(frameUrl.searchParams.get("sid")).toBe(sid);
    expect(page.headers.get("content-security-policy")).toContain(`frame-src ${receiverUrl}`);

    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
    const confirm = await fetch(`${oauth2.issuer}/oauth2/sessions/logout/confirm`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: jar.header(), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ xsrf, logout: "yes" }),
    });
    expect(confirm.status).toBe(303);
    const after = new URL(confirm.headers.get("location") ?? "");
    expect(after.href.startsWith(`${REDIRECT}/bye`)).toBe(true);
    expect(after.searchParams.get("state")).toBe("s1");

    for (let i = 0; i < 100 && backChannel.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(backChannel).toHaveLength(1);
    const jwks = createRemoteJWKSet(new URL(`${oauth2.issuer}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(backChannel[0] ?? "", jwks, { issuer: oauth2.issuer, audience: rp.client_id });
    expect(protectedHeader.typ).toBe("logout+jwt");
    expect(payload).toMatchObject({ sub: "max", sid, events: { "http://schemas.openid.net/event/backchannel-logout": {} } });
    expect(typeof payload.exp).toBe("number");
    expect(typeof payload.jti).toBe("string");
  });
});

describe("expired challenges", () => {
  it("answer 410 once the login request's lifespan is over", async () => {
    const short = await startTestOAuth2({
      lifespans: { accessToken: 3600, refreshToken: 3600, idToken: 3600, authorizationCode: 60, deviceCode: 60, loginConsentRequest: 1, authenticationSession: 3600 },
    });
    try {
      const rp = await createClient(short.admin, { redirect_uris: [REDIRECT], scope: "openid" });
      const config = await client.discovery(new URL(short.issuer), rp.client_id, undefined, client.ClientSecretBasic(rp.client_secret ?? ""), { execute: [client.allowInsecureRequests] });
      const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state: client.randomState(), code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: "S256" });
      const res = await fetch(start, { redirect: "manual" });
      const challenge = new URL(res.headers.get("location") ?? "").searchParams.get("login_challenge") ?? "";
      await new Promise((r) => setTimeout(r, 2_100));
      const expired = await fetch(`${short.admin}/admin/oauth2/auth/requests/login?login_challenge=${challenge}`);
      expect(expired.status).toBe(410);
      expect(((await expired.json()) as { error_description: string }).error_description).toMatch(/expired/);
    } finally {
      await short.close();
    }
  });
});

describe("outgoing requests to private addresses", () => {
  it("are refused when oauth2.http.disallow_private_ip_ranges is on", async () => {
    const lines: string[] = [];
    const guarded = await startTestOAuth2({ disallowPrivateIpRanges: true, log: (line) => lines.push(line) });
    try {
      const rp = await createClient(guarded.admin, { redirect_uris: [REDIRECT], scope: "openid", backchannel_logout_uri: `${receiverUrl}/backchannel` });
      const config = await client.discovery(new URL(guarded.issuer), rp.client_id, undefined, client.ClientSecretBasic(rp.client_secret ?? ""), { execute: [client.allowInsecureRequests] });
      const jar = new CookieJar();
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" });
      const callback = await followFlow(start, REDIRECT, acceptingApps(guarded.admin, "nia", {}, { remember: true }), jar);
      const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
      const before = backChannel.length;
      const toApp = await fetch(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token ?? "" }), { redirect: "manual", headers: { cookie: jar.header() } });
      jar.store(toApp);
      const challenge = new URL(toApp.headers.get("location") ?? "").searchParams.get("logout_challenge") ?? "";
      const redirectTo = await adminPut(guarded.admin, `/admin/oauth2/auth/requests/logout/accept?logout_challenge=${challenge}`, {});
      const html = await (await fetch(redirectTo, { headers: { cookie: jar.header() } })).text();
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
      await fetch(`${guarded.issuer}/oauth2/sessions/logout/confirm`, {
        method: "POST",
        redirect: "manual",
        headers: { cookie: jar.header(), "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ xsrf, logout: "yes" }),
      });
      expect(backChannel.length).toBe(before);
      expect(lines.some((l) => l.includes("back-channel logout") && l.includes("failed"))).toBe(true);
    } finally {
      await guarded.close();
    }
  });
});
