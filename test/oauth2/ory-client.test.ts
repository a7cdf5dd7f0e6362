/**
 * Ory's own SDK (`@ory/client`, the one Hydra users have) against the OAuth2 service's ports: the
 * login/consent app calls (`OAuth2Api` get/accept/reject of login and consent requests), introspection, consent
 * sessions, login session revocation, and `OidcApi` discovery and userinfo.
 */
import { Configuration, OAuth2Api, OidcApi } from "@ory/client";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CookieJar, createClient, followFlow, startTestOAuth2, type TestOAuth2 } from "./harness.js";

const REDIRECT = "http://127.0.0.1:5555/cb";
let oauth2: TestOAuth2;
let adminApi: OAuth2Api;
let config: client.Configuration;

beforeAll(async () => {
  oauth2 = await startTestOAuth2();
  adminApi = new OAuth2Api(new Configuration({ basePath: oauth2.admin }));
  const web = await createClient(oauth2.admin, { redirect_uris: [REDIRECT], grant_types: ["authorization_code", "refresh_token"], scope: "openid email offline_access" });
  config = await client.discovery(new URL(oauth2.issuer), web.client_id, undefined, client.ClientSecretBasic(web.client_secret ?? ""), { execute: [client.allowInsecureRequests] });
});

afterAll(async () => {
  await oauth2?.close();
});

/** A login and consent app written against the SDK, the way Hydra's reference app is. */
const sdkApps = (subject: string, seen: { login?: unknown; consent?: unknown } = {}) => ({
  async onLogin(challenge: string): Promise<string> {
    const { data: request } = await adminApi.getOAuth2LoginRequest({ loginChallenge: challenge });
    seen.login = request;
    const { data } = await adminApi.acceptOAuth2LoginRequest({ loginChallenge: challenge, acceptOAuth2LoginRequest: { subject, remember: true, acr: "aal1", amr: ["pwd"], context: { via: "sdk" } } });
    return data.redirect_to;
  },
  async onConsent(challenge: string): Promise<string> {
    const { data: request } = await adminApi.getOAuth2ConsentRequest({ consentChallenge: challenge });
    seen.consent = request;
    const { data } = await adminApi.acceptOAuth2ConsentRequest({
      consentChallenge: challenge,
      acceptOAuth2ConsentRequest: { grant_scope: request.requested_scope ?? [], remember: true, session: { access_token: { tier: "pro" }, id_token: { locale: "en" } } },
    });
    return data.redirect_to;
  },
});

describe("@ory/client against the OAuth2 service", () => {
  it("runs a login and consent app, then introspects, lists and revokes consent sessions", async () => {
    const seen: { login?: unknown; consent?: unknown } = {};
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid email offline_access", state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" });
    const callback = await followFlow(start, REDIRECT, sdkApps("sdk-user", seen), new CookieJar());
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(seen.login).toMatchObject({ skip: false, requested_scope: ["openid", "email", "offline_access"] });
    expect(seen.consent).toMatchObject({ subject: "sdk-user", context: { via: "sdk" }, acr: "aal1", amr: ["pwd"] });
    expect(tokens.claims()).toMatchObject({ sub: "sdk-user", locale: "en" });

    const { data: introspected } = await adminApi.introspectOAuth2Token({ token: tokens.access_token });
    expect(introspected).toMatchObject({ active: true, sub: "sdk-user", token_use: "access_token", ext: { tier: "pro" } });
    const { data: refreshIntrospected } = await adminApi.introspectOAuth2Token({ token: tokens.refresh_token ?? "" });
    expect(refreshIntrospected).toMatchObject({ active: true, token_use: "refresh_token" });

    const { data: sessions } = await adminApi.listOAuth2ConsentSessions({ subject: "sdk-user" });
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ grant_scope: ["openid", "email", "offline_access"], remember: true, session: { access_token: { tier: "pro" } } });
    const { data: nobody } = await adminApi.listOAuth2ConsentSessions({ subject: "nobody" });
    expect(nobody).toEqual([]);

    await adminApi.revokeOAuth2ConsentSessions({ subject: "sdk-user", all: true });
    const { data: after } = await adminApi.introspectOAuth2Token({ token: tokens.access_token });
    expect(after.active).toBe(false);
  });

  it("rejects a consent request and answers 410 on the second reject", async () => {
    let second: unknown;
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state: client.randomState(), code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: "S256" });
    const end = await followFlow(start, REDIRECT, {
      onLogin: sdkApps("sdk-user-2").onLogin,
      async onConsent(challenge) {
        const { data } = await adminApi.rejectOAuth2ConsentRequest({ consentChallenge: challenge, rejectOAuth2Request: { error: "access_denied", error_description: "No thanks." } });
        second = await adminApi.rejectOAuth2ConsentRequest({ consentChallenge: challenge, rejectOAuth2Request: {} }).catch((err: { response?: { status: number; data: unknown } }) => err.response);
        return data.redirect_to;
      },
    });
    expect(end.searchParams.get("error")).toBe("access_denied");
    expect(second).toMatchObject({ status: 410, data: { redirect_to: expect.stringContaining("/oauth2/auth/") } });
  });

  it("ends login sessions by subject, so the next authorization asks the login app again", async () => {
    const jar = new CookieJar();
    let logins = 0;
    const apps = sdkApps("sdk-user-3");
    const counting = { onLogin: async (c: string) => (logins++, apps.onLogin(c)), onConsent: apps.onConsent };
    const run = async (): Promise<void> => {
      const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid", state: client.randomState(), code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: "S256" });
      await followFlow(start, REDIRECT, counting, jar);
    };
    await run();
    await run();
    expect(logins).toBe(1);
    await adminApi.revokeOAuth2LoginSessions({ subject: "sdk-user-3" });
    await run();
    expect(logins).toBe(2);
  });

  it("OidcApi discovers the configuration and reads userinfo", async () => {
    const oidc = new OidcApi(new Configuration({ basePath: oauth2.issuer }));
    const { data: discovery } = await oidc.discoverOidcConfiguration();
    expect(discovery.issuer).toBe(oauth2.issuer);
    expect(discovery.token_endpoint).toBe(`${oauth2.issuer}/oauth2/token`);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid email", state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" });
    const callback = await followFlow(start, REDIRECT, sdkApps("sdk-user-4"), new CookieJar());
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const withToken = new OidcApi(new Configuration({ basePath: oauth2.issuer, accessToken: tokens.access_token }));
    const { data: info } = await withToken.getOidcUserInfo();
    expect(info).toMatchObject({ sub: "sdk-user-4", email: "sdk-user-4@example.test" });
  });
});
