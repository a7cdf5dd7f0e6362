/**
 * `gatehouse serve` runs the OAuth2 service beside the identity service: discovery on the OAuth2 public
 * plane, authorization requests sent to the identity service's built-in login app, ID token claims from the
 * identity's traits, and the identity store, tuple store and OAuth2 store over one database (PGlite here,
 * to cover migration 4 and the shared executor). A start that fails on the OAuth2 port closes the rest.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";
import { acceptingApps, CookieJar, createClient } from "./harness.js";

const REDIRECT = "http://127.0.0.1:5555/cb";
let server: RunningServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "gatehouse-oauth2-serve-"));
  server = await startServer(loopbackConfig({ kind: "pglite", dataDir }), () => {});
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
});

describe("gatehouse serve with the OAuth2 service", () => {
  it("serves discovery and sends authorization requests to the built-in login app", async () => {
    const issuer = server.oauth2.issuer;
    expect(issuer).toBe(`http://127.0.0.1:${server.oauth2.ports.public}`);
    const admin = `http://127.0.0.1:${server.oauth2.ports.admin}`;
    const web = await createClient(admin, { redirect_uris: [REDIRECT], scope: "openid email profile" });
    const config = await client.discovery(new URL(issuer), web.client_id, undefined, client.ClientSecretBasic(web.client_secret ?? ""), { execute: [client.allowInsecureRequests] });
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid email", state: client.randomState(), code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: "S256" });
    const res = await fetch(start, { redirect: "manual" });
    expect(res.status).toBe(303);
    const location = res.headers.get("location") ?? "";
    expect(location.startsWith(`${server.identity.publicBaseUrl}/ui/oauth2/login?login_challenge=`)).toBe(true);
  });

  it("puts the identity's traits in the ID token", async () => {
    const identityAdmin = `http://127.0.0.1:${server.identity.ports.admin}`;
    const created = await fetch(`${identityAdmin}/admin/identities`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ schema_id: "default", traits: { email: "grace@example.test", name: { first: "Grace", last: "Hopper" } } }),
    });
    expect(created.status).toBe(201);
    const identity = (await created.json()) as { id: string };
    const issuer = server.oauth2.issuer;
    const admin = `http://127.0.0.1:${server.oauth2.ports.admin}`;
    const web = await createClient(admin, { redirect_uris: [REDIRECT], scope: "openid email profile" });
    const config = await client.discovery(new URL(issuer), web.client_id, undefined, client.ClientSecretBasic(web.client_secret ?? ""), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    let url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid email profile", state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" });
    // Play the login app through the admin API (the built-in one needs a browser session; see built-in-app tests).
    const apps = acceptingApps(admin, identity.id);
    const jar = new CookieJar();
    for (let hop = 0; hop < 20 && !url.href.startsWith(REDIRECT); hop++) {
      const login = url.searchParams.get("login_challenge");
      const consent = url.searchParams.get("consent_challenge");
      if (login !== null && url.pathname.endsWith("/ui/oauth2/login")) url = new URL(await apps.onLogin(login));
      else if (consent !== null && url.pathname.endsWith("/ui/oauth2/consent")) url = new URL(await apps.onConsent(consent));
      else {
        const res = await fetch(url, { redirect: "manual", headers: { cookie: jar.header() } });
        jar.store(res);
        url = new URL(res.headers.get("location") ?? "", url);
      }
    }
    const tokens = await client.authorizationCodeGrant(config, url, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()).toMatchObject({ sub: identity.id, email: "grace@example.test", email_verified: false, name: "Grace Hopper", given_name: "Grace" });
  });
});

describe("gatehouse serve start-up failures", () => {
  it("closes everything when the OAuth2 public port is taken", async () => {
    const blocker: Server = await new Promise((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => resolve(s));
    });
    const config = loopbackConfig();
    config.serve.oauth2Public.port = (blocker.address() as { port: number }).port;
    try {
      await expect(startServer(config, () => {})).rejects.toThrow(/EADDRINUSE|in use/i);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
