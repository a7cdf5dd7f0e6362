/**
 * Per-client JWT access tokens (`access_token_strategy: jwt`, RFC 9068 `typ: at+jwt`) and signing-key
 * rotation through the admin API: resource servers verify the JWT offline with the published JWKS, the
 * token is still introspectable and revocable, a forged or altered JWT is refused, and a key added to a set
 * signs from then on while tokens signed by the previous key stay valid.
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptingApps, createClient, followFlow, startTestOAuth2, type TestOAuth2 } from "./harness.js";

const REDIRECT = "http://127.0.0.1:5555/cb";
let oauth2: TestOAuth2;
let machine: client.Configuration;

beforeAll(async () => {
  oauth2 = await startTestOAuth2();
  const created = await createClient(oauth2.admin, {
    grant_types: ["client_credentials"],
    response_types: [],
    scope: "read write",
    token_endpoint_auth_method: "client_secret_post",
    access_token_strategy: "jwt",
  });
  machine = await client.discovery(new URL(oauth2.issuer), created.client_id, undefined, client.ClientSecretPost(created.client_secret ?? ""), { execute: [client.allowInsecureRequests] });
});

afterAll(async () => {
  await oauth2?.close();
});

const introspect = async (token: string): Promise<Record<string, unknown>> =>
  (await (await fetch(`${oauth2.admin}/admin/oauth2/introspect`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token }) })).json()) as Record<string, unknown>;

describe("JWT access tokens", () => {
  it("are RFC 9068 JWTs a resource server verifies with the published keys, and stay introspectable and revocable", async () => {
    const tokens = await client.clientCredentialsGrant(machine, { scope: "read" });
    const header = decodeProtectedHeader(tokens.access_token);
    expect(header).toMatchObject({ typ: "at+jwt", alg: "RS256" });
    const jwks = createRemoteJWKSet(new URL(`${oauth2.issuer}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: oauth2.issuer, typ: "at+jwt" });
    expect(payload).toMatchObject({ client_id: machine.clientMetadata().client_id, sub: machine.clientMetadata().client_id, scope: "read", scp: ["read"] });
    expect(payload.jti).toMatch(/^[0-9a-f]{96}$/);
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true, scope: "read", token_use: "access_token" });
    await client.tokenRevocation(machine, tokens.access_token);
    expect((await client.tokenIntrospection(machine, tokens.access_token)).active).toBe(false);
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
  });

  it("refuses an altered JWT and the record's id presented as a token", async () => {
    const tokens = await client.clientCredentialsGrant(machine, { scope: "read write" });
    const [h, p, sig] = tokens.access_token.split(".");
    const claims = JSON.parse(Buffer.from(p ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: "admin" })).toString("base64url");
    expect(await introspect(`${h}.${widened}.${sig}`)).toEqual({ active: false });
    expect(await introspect(String(claims["jti"]))).toEqual({ active: false });
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true });
  });

  it("carries the consent's access-token claims as ext and works at userinfo", async () => {
    const web = await createClient(oauth2.admin, { redirect_uris: [REDIRECT], scope: "openid email", access_token_strategy: "jwt" });
    const config = await client.discovery(new URL(oauth2.issuer), web.client_id, undefined, client.ClientSecretBasic(web.client_secret ?? ""), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const start = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: "openid email", state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" });
    const callback = await followFlow(start, REDIRECT, acceptingApps(oauth2.admin, "jill", { session: { access_token: { team: "blue" } } }));
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    const jwks = createRemoteJWKSet(new URL(`${oauth2.issuer}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: oauth2.issuer });
    expect(payload).toMatchObject({ sub: "jill", ext: { team: "blue" } });
    expect((await client.fetchUserInfo(config, tokens.access_token, "jill")).email).toBe("jill@example.test");
  });
});

describe("signing key rotation", () => {
  it("signs with a key added through /admin/keys, while tokens of the previous key stay valid", async () => {
    const before = await client.clientCredentialsGrant(machine, { scope: "read" });
    const oldKid = decodeProtectedHeader(before.access_token).kid;
    const created = await fetch(`${oauth2.admin}/admin/keys/hydra.jwt.access-token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ alg: "RS256", use: "sig", kid: "rotated-1" }),
    });
    expect(created.status).toBe(201);
    // The admin change reloads this node's provider at once (other nodes poll the key version).
    let after = await client.clientCredentialsGrant(machine, { scope: "read" });
    for (let i = 0; i < 50 && decodeProtectedHeader(after.access_token).kid !== "rotated-1"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      after = await client.clientCredentialsGrant(machine, { scope: "read" });
    }
    expect(decodeProtectedHeader(after.access_token).kid).toBe("rotated-1");
    expect(oldKid).not.toBe("rotated-1");
    const jwks = (await (await fetch(`${oauth2.issuer}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining(["rotated-1", oldKid]));
    expect(await introspect(before.access_token)).toMatchObject({ active: true });
    expect(await introspect(after.access_token)).toMatchObject({ active: true });
  });
});
