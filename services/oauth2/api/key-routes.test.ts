import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Configuration, JwkApi, type JsonWebKey } from "@ory/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKeyVerifier, hashApiKey } from "../../../gateways/auth/api-keys.js";
import { createKeyVault } from "../keys/key-vault.js";
import { loadSystemSecrets, SYSTEM_SECRETS_SET } from "../keys/system-secrets.js";
import { createMemoryOAuth2Store } from "../store/memory-oauth2-store.js";
import type { OAuth2Store } from "../store/oauth2-store.js";
import { dispatch, sendJson } from "./http-io.js";
import { keyRoutes } from "./key-routes.js";

const ADMIN_KEY = "admin-api-key-for-tests";
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"];

interface ErrorBody {
  error: string;
  error_description: string;
  status_code: number;
}

/** A private JWK made outside Gatehouse, with extra members. */
function jwkOf(type: "ec" | "ed25519", extra: Record<string, string>): Record<string, string> {
  const { privateKey } = type === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
  return { ...(privateKey.export({ format: "jwk" }) as Record<string, string>), ...extra };
}

/** The HTTP status of an axios rejection from the SDK. */
async function sdkStatus(promise: Promise<unknown>): Promise<{ status: number | undefined; data: unknown }> {
  try {
    await promise;
  } catch (err) {
    const response = (err as { response?: { status?: number; data?: unknown } }).response;
    return { status: response?.status, data: response?.data };
  }
  throw new Error("expected the SDK call to fail");
}

describe("admin JSON Web Key routes", () => {
  let server: Server;
  let base: string;
  let store: OAuth2Store;
  let sdk: JwkApi;
  let changes = 0;

  const call = async (method: string, path: string, body?: unknown, key: string | null = ADMIN_KEY): Promise<{ status: number; json: unknown; headers: Headers }> => {
    const headers: Record<string, string> = {};
    if (key !== null) headers["authorization"] = `Bearer ${key}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, json: text === "" ? undefined : (JSON.parse(text) as unknown), headers: res.headers };
  };

  beforeAll(async () => {
    store = createMemoryOAuth2Store();
    // No configured secret: one is generated into the reserved set, which the API must never expose.
    const secrets = await loadSystemSecrets({ store });
    const vault = createKeyVault({ store, secrets });
    const routes = keyRoutes({ vault, keys: createApiKeyVerifier([hashApiKey(ADMIN_KEY)]), onKeysChanged: () => changes++ });
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      void dispatch(routes, req, res, url).then((handled) => {
        if (!handled) sendJson(res, 404, { error: "not_found", error_description: "no route", status_code: 404 });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    sdk = new JwkApi(new Configuration({ basePath: base, accessToken: ADMIN_KEY }));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
  });

  it("requires the admin API key", async () => {
    const res = await call("GET", "/admin/keys/any", undefined, null);
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ error: "unauthorized", status_code: 401 });
    expect((await call("POST", "/admin/keys/any", { alg: "ES256", use: "sig", kid: "x" }, "wrong-key")).status).toBe(401);
    const unauthorized = new JwkApi(new Configuration({ basePath: base }));
    expect((await sdkStatus(unauthorized.getJsonWebKeySet({ set: "any" }))).status).toBe(401);
  });

  it("creates keys with the SDK (201, the private key like Hydra) and keeps the set's other keys", async () => {
    const before = changes;
    const created = await sdk.createJsonWebKeySet({ set: "sdk.set", createJsonWebKeySet: { alg: "RS256", use: "sig", kid: "rsa-1" } });
    expect(created.status).toBe(201);
    expect(created.data.keys).toHaveLength(1);
    const key = created.data.keys?.[0];
    expect(key).toMatchObject({ kty: "RSA", kid: "rsa-1", alg: "RS256", use: "sig", e: "AQAB" });
    expect(typeof key?.d).toBe("string");
    expect(created.headers["location"]).toBe("/admin/keys/sdk.set");

    await sdk.createJsonWebKeySet({ set: "sdk.set", createJsonWebKeySet: { alg: "ES256", use: "sig", kid: "ec-1" } });
    const set = await sdk.getJsonWebKeySet({ set: "sdk.set" });
    expect(set.status).toBe(200);
    expect(set.data.keys?.map((k) => k.kid)).toEqual(["ec-1", "rsa-1"]);
    expect(set.data.keys?.every((k) => typeof k.d === "string")).toBe(true);
    expect(changes).toBe(before + 2);

    // At rest, nothing private in clear.
    for (const row of await store.listKeys("sdk.set")) for (const m of PRIVATE_MEMBERS) expect(row.jwk[m]).toBeUndefined();
  });

  it("gets one key as a set of one, and 404s with Hydra's error body", async () => {
    const one = await sdk.getJsonWebKey({ set: "sdk.set", kid: "ec-1" });
    expect(one.data.keys).toHaveLength(1);
    expect(one.data.keys?.[0]).toMatchObject({ kty: "EC", crv: "P-256", kid: "ec-1" });

    const missingKey = await sdkStatus(sdk.getJsonWebKey({ set: "sdk.set", kid: "nope" }));
    expect(missingKey.status).toBe(404);
    expect(missingKey.data).toMatchObject({ error: "not_found", status_code: 404 });
    const missingSet = await call("GET", "/admin/keys/no.such.set");
    expect(missingSet.status).toBe(404);
    const body = missingSet.json as ErrorBody;
    expect(body.error).toBe("not_found");
    expect(body.status_code).toBe(404);
    expect(body.error_description).toContain("no.such.set");
  });

  it("refuses unknown algorithms and uses, naming the field, and duplicate kids with 409", async () => {
    const alg = await call("POST", "/admin/keys/bad", { alg: "RS1024", use: "sig", kid: "a" });
    expect(alg.status).toBe(400);
    expect(alg.json).toMatchObject({ error: "invalid_request", status_code: 400 });
    expect((alg.json as ErrorBody).error_description).toMatch(/^alg: /);
    const use = await call("POST", "/admin/keys/bad", { alg: "ES256", use: "encrypt", kid: "a" });
    expect(use.status).toBe(400);
    expect((use.json as ErrorBody).error_description).toMatch(/^use: /);
    const missing = await call("POST", "/admin/keys/bad", { use: "sig", kid: "a" });
    expect((missing.json as ErrorBody).error_description).toMatch(/^alg: is required/);
    const typed = await call("POST", "/admin/keys/bad", { alg: 256, use: "sig", kid: "a" });
    expect((typed.json as ErrorBody).error_description).toMatch(/^alg: must be a string/);
    const json = await call("POST", "/admin/keys/bad", "{not json");
    expect(json.status).toBe(400);
    const sdkBad = await sdkStatus(sdk.createJsonWebKeySet({ set: "bad", createJsonWebKeySet: { alg: "PS256", use: "sig", kid: "a" } }));
    expect(sdkBad.status).toBe(400);
    expect((await call("GET", "/admin/keys/bad")).status).toBe(404);

    const dup = await call("POST", "/admin/keys/sdk.set", { alg: "ES256", use: "sig", kid: "ec-1" });
    expect(dup.status).toBe(409);
    expect((dup.json as ErrorBody).status_code).toBe(409);
  });

  it("creates a kid when the body has none (Hydra's behaviour)", async () => {
    const res = await call("POST", "/admin/keys/auto.kid", { alg: "HS256", use: "sig" });
    expect(res.status).toBe(201);
    const keys = (res.json as { keys: { kid: string; k: string }[] }).keys;
    expect(keys[0]?.kid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Buffer.from(keys[0]?.k ?? "", "base64url")).toHaveLength(32);
  });

  it("replaces a whole set (PUT) and one key (PUT), refusing a kid that contradicts the path", async () => {
    const a = jwkOf("ec", { kid: "a", alg: "ES256", use: "sig" });
    const b = jwkOf("ed25519", { kid: "b", alg: "EdDSA", use: "sig" });
    const put = await sdk.setJsonWebKeySet({ set: "sdk.set", jsonWebKeySet: { keys: [a as unknown as JsonWebKey, b as unknown as JsonWebKey] } });
    expect(put.status).toBe(200);
    expect(put.data.keys?.map((k) => k.kid)).toEqual(["a", "b"]);
    expect((await sdk.getJsonWebKeySet({ set: "sdk.set" })).data.keys?.map((k) => k.kid)).toEqual(["a", "b"]);

    const c = jwkOf("ec", { kid: "b", alg: "ES256", use: "sig" });
    const one = await sdk.setJsonWebKey({ set: "sdk.set", kid: "b", jsonWebKey: c as unknown as JsonWebKey });
    expect(one.status).toBe(200);
    expect(one.data).toMatchObject({ kid: "b", kty: "EC", d: c.d });
    expect((await sdk.getJsonWebKeySet({ set: "sdk.set" })).data.keys?.map((k) => k.kid)).toEqual(["b", "a"]);

    const mismatch = await call("PUT", "/admin/keys/sdk.set/zzz", c);
    expect(mismatch.status).toBe(400);
    expect((mismatch.json as ErrorBody).error_description).toMatch(/^kid: /);
    const { kid: _kid, ...withoutKid } = c;
    const fromPath = await call("PUT", "/admin/keys/sdk.set/from-path", withoutKid);
    expect(fromPath.status).toBe(200);
    expect((fromPath.json as { kid: string }).kid).toBe("from-path");

    const invalid = await call("PUT", "/admin/keys/sdk.set", { keys: [{ ...a, x: b.x }] });
    expect(invalid.status).toBe(400);
    expect((invalid.json as ErrorBody).error_description).toMatch(/^keys\[0\]/);
    const notArray = await call("PUT", "/admin/keys/sdk.set", { keys: "nope" });
    expect((notArray.json as ErrorBody).error_description).toMatch(/^keys: /);
  });

  it("deletes keys and sets with 204, also when already gone (as Hydra)", async () => {
    await sdk.createJsonWebKeySet({ set: "doomed", createJsonWebKeySet: { alg: "ES256", use: "sig", kid: "one" } });
    await sdk.createJsonWebKeySet({ set: "doomed", createJsonWebKeySet: { alg: "ES256", use: "sig", kid: "two" } });
    expect((await sdk.deleteJsonWebKey({ set: "doomed", kid: "one" })).status).toBe(204);
    expect((await call("DELETE", "/admin/keys/doomed/one")).status).toBe(204);
    expect((await sdk.getJsonWebKeySet({ set: "doomed" })).data.keys?.map((k) => k.kid)).toEqual(["two"]);
    const before = changes;
    expect((await sdk.deleteJsonWebKeySet({ set: "doomed" })).status).toBe(204);
    expect(changes).toBe(before + 1);
    expect((await sdkStatus(sdk.getJsonWebKeySet({ set: "doomed" }))).status).toBe(404);
    expect((await call("DELETE", "/admin/keys/doomed")).status).toBe(204);
    expect(changes).toBe(before + 1);
  });

  it("never serves nor changes the system secret set", async () => {
    const secretBefore = await store.listKeys(SYSTEM_SECRETS_SET);
    expect(secretBefore).toHaveLength(1);
    const k = String(secretBefore[0]?.jwk["k"]);
    const path = `/admin/keys/${SYSTEM_SECRETS_SET}`;
    const attempts = [
      await call("GET", path),
      await call("GET", `${path}/system`),
      await call("POST", path, { alg: "HS256", use: "sig", kid: "x" }),
      await call("PUT", path, { keys: [] }),
      await call("PUT", `${path}/system`, { kty: "oct", k: "AAAA" }),
      await call("DELETE", path),
      await call("DELETE", `${path}/system`),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(403);
      expect(res.json).toMatchObject({ error: "forbidden", status_code: 403 });
      expect((res.json as ErrorBody).error_description).toContain("oauth2.secrets.system");
      expect(JSON.stringify(res.json)).not.toContain(k);
    }
    expect((await sdkStatus(sdk.getJsonWebKeySet({ set: SYSTEM_SECRETS_SET }))).status).toBe(403);
    expect(await store.listKeys(SYSTEM_SECRETS_SET)).toEqual(secretBefore);
  });

  it("answers 405 for another method on a key path", async () => {
    const res = await call("PATCH", "/admin/keys/sdk.set", {});
    expect(res.status).toBe(405);
  });
});
