/**
 * The device authorization grant (RFC 8628) end to end: openid-client starts it, a "browser" enters the code
 * on the verification page and goes through login and consent, the device's token request then succeeds
 * (and before that answers authorization_pending). Plus `private_key_jwt` client authentication.
 */
import { exportJWK, generateKeyPair } from "jose";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptingApps, CookieJar, createClient, startTestOAuth2, UNUSED_APP, type TestOAuth2 } from "./harness.js";

let oauth2: TestOAuth2;

beforeAll(async () => {
  oauth2 = await startTestOAuth2();
});

afterAll(async () => {
  await oauth2?.close();
});

/** The hidden and text inputs of the form with this id, as form fields. */
function formFields(html: string, formId: string): { action: string; fields: URLSearchParams } {
  const start = html.indexOf(`id="${formId}"`);
  if (start < 0) throw new Error(`no form ${formId} in: ${html.slice(0, 400)}`);
  const open = html.lastIndexOf("<form", start);
  const end = html.indexOf("</form>", start);
  const form = html.slice(open, end);
  const action = /action="([^"]*)"/.exec(form)?.[1] ?? "";
  const fields = new URLSearchParams();
  for (const input of form.matchAll(/<input[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? "";
    if (name !== undefined) fields.set(name, value.replace(/&amp;/g, "&"));
  }
  return { action, fields };
}

async function deviceToken(deviceCode: string, clientId: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${oauth2.issuer}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: deviceCode, client_id: clientId }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("device authorization grant", () => {
  it("issues tokens to the device after the user enters the code and consents", async () => {
    const tv = await createClient(oauth2.admin, {
      client_name: "living-room TV",
      grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
      response_types: [],
      token_endpoint_auth_method: "none",
      scope: "openid offline_access",
    });
    const config = await client.discovery(new URL(oauth2.issuer), tv.client_id, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const started = await client.initiateDeviceAuthorization(config, { scope: "openid offline_access" });
    expect(started.verification_uri).toBe(`${oauth2.issuer}/oauth2/device/verify`);
    expect(started.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(started.device_code).toMatch(/^gh_dc_/);

    const pending = await deviceToken(started.device_code, tv.client_id);
    expect(pending).toMatchObject({ status: 400, body: { error: "authorization_pending" } });

    // The user's browser: enter the code, confirm, sign in and consent.
    const jar = new CookieJar();
    const get = async (url: string): Promise<Response> => {
      const res = await fetch(url, { redirect: "manual", headers: { cookie: jar.header() } });
      jar.store(res);
      return res;
    };
    const post = async (url: string, body: URLSearchParams): Promise<Response> => {
      const res = await fetch(url, { method: "POST", redirect: "manual", headers: { cookie: jar.header(), "content-type": "application/x-www-form-urlencoded" }, body });
      jar.store(res);
      return res;
    };
    const input = await get(started.verification_uri);
    const entry = formFields(await input.text(), "op.deviceInputForm");
    entry.fields.set("user_code", started.user_code);
    const confirmPage = await post(new URL(entry.action, oauth2.issuer).href, entry.fields);
    expect(confirmPage.status).toBe(200);
    const confirmHtml = await confirmPage.text();
    expect(confirmHtml).toContain("living-room TV");
    const confirm = formFields(confirmHtml, "op.deviceConfirmForm");
    let res = await post(new URL(confirm.action, oauth2.issuer).href, confirm.fields);
    const apps = acceptingApps(oauth2.admin, "dana");
    for (let hop = 0; hop < 10 && res.status >= 300 && res.status < 400; hop++) {
      const location = new URL(res.headers.get("location") ?? "", oauth2.issuer);
      if (location.href.startsWith(UNUSED_APP)) {
        const login = location.searchParams.get("login_challenge");
        const next = login !== null ? await apps.onLogin(login) : await apps.onConsent(location.searchParams.get("consent_challenge") ?? "");
        res = await get(next);
      } else {
        res = await get(location.href);
      }
    }
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("Device connected");

    const done = await deviceToken(started.device_code, tv.client_id);
    expect(done.status).toBe(200);
    expect(done.body["access_token"]).toMatch(/^gh_at_/);
    expect(done.body["refresh_token"]).toMatch(/^gh_rt_/);
    expect(done.body["id_token"]).toBeDefined();
    // The device code is spent.
    expect((await deviceToken(started.device_code, tv.client_id)).body["error"]).toBe("invalid_grant");
  });

  it("refuses a wrong user code on the verification page", async () => {
    const page = await fetch(`${oauth2.issuer}/oauth2/device/verify`);
    const jar = new CookieJar();
    jar.store(page);
    const entry = formFields(await page.text(), "op.deviceInputForm");
    entry.fields.set("user_code", "WXYZ-WXYZ");
    const res = await fetch(new URL(entry.action, oauth2.issuer), {
      method: "POST",
      headers: { cookie: jar.header(), "content-type": "application/x-www-form-urlencoded" },
      body: entry.fields,
    });
    expect(await res.text()).toContain("The code is not valid");
  });
});

describe("private_key_jwt", () => {
  it("authenticates a client by a signed assertion, and refuses one signed by another key", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    const service = await createClient(oauth2.admin, {
      grant_types: ["client_credentials"],
      response_types: [],
      scope: "reports",
      token_endpoint_auth_method: "private_key_jwt",
      token_endpoint_auth_signing_alg: "ES256",
      jwks: { keys: [jwk] },
    });
    expect(service.client_secret ?? "").toBe("");
    const config = await client.discovery(new URL(oauth2.issuer), service.client_id, { token_endpoint_auth_signing_alg: "ES256" }, client.PrivateKeyJwt({ key: privateKey, kid: "k1" }), {
      execute: [client.allowInsecureRequests],
    });
    const tokens = await client.clientCredentialsGrant(config, { scope: "reports" });
    expect(tokens.access_token).toMatch(/^gh_at_/);

    const other = await generateKeyPair("ES256", { extractable: true });
    const forged = await client.discovery(new URL(oauth2.issuer), service.client_id, { token_endpoint_auth_signing_alg: "ES256" }, client.PrivateKeyJwt({ key: other.privateKey, kid: "k1" }), {
      execute: [client.allowInsecureRequests],
    });
    await expect(client.clientCredentialsGrant(forged, { scope: "reports" })).rejects.toMatchObject({ error: "invalid_client" });
  });
});

describe("pairwise subjects", () => {
  it("give a pairwise client a per-sector subject, the same in the ID token, userinfo and introspection", async () => {
    const REDIRECT = "https://pairwise.example.test/cb";
    const rp = await createClient(oauth2.admin, { redirect_uris: [REDIRECT], scope: "openid", subject_type: "pairwise" });
    const config = await client.discovery(new URL(oauth2.issuer), rp.client_id, undefined, client.ClientSecretBasic(rp.client_secret ?? ""), { execute: [client.allowInsecureRequests] });
    expect(config.serverMetadata().subject_types_supported).toEqual(expect.arrayContaining(["public", "pairwise"]));
    const run = async (): Promise<string> => {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" });
      let url = new URL(start);
      const apps = acceptingApps(oauth2.admin, "olga");
      const jar = new CookieJar();
      for (let hop = 0; hop < 20 && !url.href.startsWith(REDIRECT); hop++) {
        const login = url.searchParams.get("login_challenge");
        const consent = url.searchParams.get("consent_challenge");
        if (url.href.startsWith(UNUSED_APP) && login !== null) url = new URL(await apps.onLogin(login));
        else if (url.href.startsWith(UNUSED_APP) && consent !== null) url = new URL(await apps.onConsent(consent));
        else {
          const res = await fetch(url, { redirect: "manual", headers: { cookie: jar.header() } });
          jar.store(res);
          url = new URL(res.headers.get("location") ?? "", url);
        }
      }
      const tokens = await client.authorizationCodeGrant(config, url, { pkceCodeVerifier: verifier, expectedState: state });
      const sub = String(tokens.claims()?.sub);
      expect((await client.fetchUserInfo(config, tokens.access_token, sub)).sub).toBe(sub);
      return sub;
    };
    const first = await run();
    expect(first).not.toBe("olga");
    expect(await run()).toBe(first);
  });
});
