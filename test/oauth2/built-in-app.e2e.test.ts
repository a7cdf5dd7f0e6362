/**
 * The built-in login and consent app in a real browser (headless Chromium through playwright-core): an
 * authorization request, the sign-in form, the consent page, Allow, and the client's redirect URI (a small
 * local server recording what arrives) reached with a code that openid-client redeems; then RP-initiated
 * logout through the logout page. The pages' CSP is in force, including Chrome's `form-action` check on the
 * redirects after each form post.
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or GATEHOUSE_CHROMIUM). Without it the suite is skipped with
 * a warning on a developer machine, and fails under CI (CI=true), where the CI script must install it.
 */
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as client from "openid-client";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startIdentityPlanes, type IdentityPlanes } from "../../services/identity/identity-service.js";
import type { OAuth2BridgeRef } from "../../services/identity/oauth2-bridge.js";
import { createIdentityDeps } from "../../services/identity/setup.js";
import { createMemoryIdentityStore } from "../../services/identity/store/memory-identity-store.js";
import type { IdentityStore } from "../../services/identity/store/identity-store.js";
import { createClient, startTestOAuth2, type TestOAuth2 } from "./harness.js";

const CHROMIUM = process.env["GATEHOUSE_CHROMIUM"] ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = process.env["CI"] !== undefined && process.env["CI"] !== "" && process.env["CI"] !== "false";
const SCREENSHOTS = process.env["GATEHOUSE_E2E_SCREENSHOTS"];
const PASSWORD = "a long enough passphrase";

if (!HAVE_CHROMIUM && !IN_CI) {
  process.stderr.write(
    `\n*** test/oauth2/built-in-app.e2e.test.ts SKIPPED: no Chromium at ${CHROMIUM} (install Debian's "chromium" package, or set GATEHOUSE_CHROMIUM) ***\n\n`,
  );
}

describe.runIf(!HAVE_CHROMIUM && IN_CI)("built-in OAuth2 app in Chromium (prerequisite)", () => {
  it("has Chromium installed", () => {
    expect.fail(`no Chromium at ${CHROMIUM}: the CI script must install Debian's "chromium" package`);
  });
});

describe.runIf(HAVE_CHROMIUM)("built-in OAuth2 app in Chromium", () => {
  let store: IdentityStore;
  let identity: IdentityPlanes;
  let oauth2: TestOAuth2;
  let browser: Browser;
  let rp: Server;
  let redirectUri: string;
  const arrived: URL[] = [];

  beforeAll(async () => {
    // The client's redirect URI: records the query, answers a plain page.
    rp = createServer((req, res) => {
      arrived.push(new URL(req.url ?? "/", redirectUri));
      // (Chromium asks for /favicon.ico too.)
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end("<!doctype html><title>Client</title><p>back at the client</p>");
    });
    await new Promise<void>((resolve) => rp.listen(0, "127.0.0.1", resolve));
    redirectUri = `http://127.0.0.1:${(rp.address() as AddressInfo).port}/cb`;

    store = createMemoryIdentityStore();
    const deps = createIdentityDeps({ argon2: { memoryKiB: 1024, iterations: 1, parallelism: 1 } });
    const bridge: OAuth2BridgeRef = { current: undefined };
    identity = await startIdentityPlanes({
      store,
      schemas: deps.schemas,
      hasher: deps.hasher,
      policy: deps.policy,
      public: { host: "127.0.0.1", port: 0 },
      admin: { host: "127.0.0.1", port: 0 },
      shutdownTimeoutMillis: 100,
      oauth2: bridge,
    });
    const base = identity.publicBaseUrl;
    oauth2 = await startTestOAuth2({
      urls: () => ({ login: `${base}/ui/oauth2/login`, consent: `${base}/ui/oauth2/consent`, logout: `${base}/ui/oauth2/logout` }),
      accounts: async (subject) => {
        const entry = await store.getIdentity(subject);
        return entry === undefined ? undefined : { email: entry.identity.traits["email"], email_verified: false };
      },
    });
    bridge.current = oauth2.planes.flows;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await oauth2?.close();
    await identity?.close();
    await store?.close();
    await new Promise<void>((resolve) => (rp === undefined ? resolve() : rp.close(() => resolve())));
  });

  it("signs in, asks for consent, and brings a code back to the client", async () => {
    const email = "chromium-oauth2@example.com";
    const created = await fetch(`http://127.0.0.1:${identity.ports.admin}/admin/identities`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ schema_id: "default", traits: { email }, credentials: { password: { config: { password: PASSWORD } } } }),
    });
    expect(created.status).toBe(201);
    const identityId = ((await created.json()) as { id: string }).id;
    const registered = await createClient(oauth2.admin, {
      client_name: "Chromium Photos",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      scope: "openid email",
    });
    const config = await client.discovery(new URL(oauth2.issuer), registered.client_id, undefined, client.ClientSecretBasic(registered.client_secret ?? ""), {
      execute: [client.allowInsecureRequests],
    });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const start = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: "openid email",
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
    });

    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (m) => {
      // The issuer has no favicon (a 404 Chromium reports); anything else counts, CSP violations first of all.
      if ((m.type() === "error" || m.type() === "warning") && !m.location().url.endsWith("/favicon.ico")) problems.push(`${m.text()} ${m.location().url}`);
    });
    page.on("pageerror", (e) => problems.push(e.message));
    const shot = async (name: string): Promise<void> => {
      if (SCREENSHOTS !== undefined) await page.screenshot({ path: `${SCREENSHOTS}/oauth2-${name}.png`, fullPage: true });
    };
    const base = identity.publicBaseUrl;

    await page.goto(start.href);
    await page.waitForURL(new RegExp(`^${base}/ui/login\\?flow=`));
    await shot("1-login");
    await page.fill('input[name="identifier"]', email);
    await page.fill('input[name="password"]', PASSWORD);
    await Promise.all([page.waitForURL(new RegExp(`^${base}/ui/oauth2/consent\\?consent_challenge=`)), page.click('button[name="method"]')]);
    expect(await page.textContent('[data-testid="client-name"]')).toBe("Chromium Photos");
    expect(await page.isChecked('input[name="grant_scope"][value="email"]')).toBe(true);
    expect(await page.isChecked('input[name="remember"]')).toBe(true);
    await shot("2-consent");

    await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), page.click('button[value="accept"]')]);
    expect(await page.textContent("p")).toBe("back at the client");
    const callback = arrived.filter((u) => u.pathname === "/cb").at(-1);
    expect(callback?.searchParams.get("code")).toBeTruthy();
    const tokens = await client.authorizationCodeGrant(config, callback ?? new URL(redirectUri), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    expect(tokens.claims()?.sub).toBe(identityId);
    expect(tokens.claims()?.["email"]).toBe(email);

    // RP-initiated logout: the logout page, Yes, and the issuer's confirmation: both sessions end.
    await page.goto(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token ?? "" }).href);
    await page.waitForURL(new RegExp(`^${base}/ui/oauth2/logout\\?logout_challenge=`));
    expect(await page.title()).toContain("Sign out of Chromium Photos?");
    await shot("3-logout");
    await Promise.all([page.waitForURL(`${oauth2.issuer}/**`), page.click('button[value="accept"]')]);
    await expect.poll(() => page.textContent("main")).toContain("You are signed out");
    expect((await context.cookies(base)).some((c) => c.name === "ory_kratos_session")).toBe(false);
    expect((await context.cookies(oauth2.issuer)).some((c) => c.name.startsWith("gatehouse_oauth2_session"))).toBe(false);

    expect(problems).toEqual([]);
    await context.close();
  });
});
