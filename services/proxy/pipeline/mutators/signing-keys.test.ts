import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from "jose";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { createOutboundHttp } from "../outbound-http.js";
import { UpstreamServiceError } from "../errors.js";
import { rejectionOf, startServer, type TestServer } from "../authorizers/test-support.js";
import { createSigningKeySource } from "./signing-keys.js";

const http = createOutboundHttp({ timeoutMillis: 2_000 });
const dir = mkdtempSync(join(tmpdir(), "gatehouse-signing-keys-"));
const servers: TestServer[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const s of servers.splice(0)) await s.close();
});
afterAll(async () => {
  await http.close();
  rmSync(dir, { recursive: true, force: true });
});

const PRIVATE = ["d", "p", "q", "dp", "dq", "qi", "k"];

async function privateJwk(alg: "RS256" | "ES256" | "EdDSA", extra: Record<string, unknown> = {}): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), ...extra };
}

function fileWith(name: string, keys: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ keys }));
  return pathToFileURL(path).href;
}

function source(logs: string[] = [], ownKeys?: "generate" | { jwksFile: string }) {
  return createSigningKeySource({ http, log: (l) => logs.push(l), ...(ownKeys === undefined ? {} : { ownKeys }) });
}

/** Signs with the key the source hands out and verifies against the source's public set. */
async function signsVerifiably(keys: ReturnType<typeof source>, jwksUrl: string | undefined): Promise<void> {
  const key = await keys.signingKey(jwksUrl);
  const jwt = await new SignJWT({ sub: "anne" }).setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(key.key);
  const { payload, protectedHeader } = await jwtVerify(jwt, createLocalJWKSet((await keys.publicJwks()) as { keys: JWK[] }));
  expect(payload.sub).toBe("anne");
  expect(protectedHeader.kid).toBe(key.kid);
}

describe("the gateway's own keys", () => {
  it("are generated once per process (ES256, random kid), with a one-time warning about clusters", async () => {
    const logs: string[] = [];
    const keys = source(logs);
    const [a, b] = await Promise.all([keys.signingKey(undefined), keys.signingKey(undefined)]);
    expect(a).toBe(b);
    expect(a.alg).toBe("ES256");
    expect(a.kid).toMatch(/^[0-9a-f-]{36}$/);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain("jwks_url");
    const { keys: published } = await keys.publicJwks();
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ kid: a.kid, alg: "ES256", kty: "EC", crv: "P-256" });
    expect(published[0]).not.toHaveProperty("d");
    await signsVerifiably(keys, undefined);
    expect(logs).toHaveLength(1);
  });

  it("can be read from a key file", async () => {
    const rsa = await privateJwk("RS256", { kid: "own-1" });
    const path = join(dir, "own.json");
    writeFileSync(path, JSON.stringify({ keys: [rsa] }));
    const logs: string[] = [];
    const keys = source(logs, { jwksFile: path });
    expect((await keys.signingKey(undefined)).kid).toBe("own-1");
    expect(logs).toHaveLength(0);
    await signsVerifiably(keys, undefined);
  });
});

describe("key sets named by jwks_url", () => {
  it("picks the first private signing key of a file, inferring its algorithm, and publishes only public parts", async () => {
    const enc = await privateJwk("ES256", { kid: "enc", use: "enc" });
    const publicOnly = { ...(await privateJwk("RS256", { kid: "public" })), d: undefined, p: undefined, q: undefined, dp: undefined, dq: undefined, qi: undefined };
    const rsa = await privateJwk("RS256", { kid: "rsa", use: "sig" });
    const hmac = { kty: "oct", k: "c2VjcmV0", kid: "hmac", alg: "HS256" };
    const url = fileWith("set.json", [JSON.parse(JSON.stringify(publicOnly)), enc, hmac, rsa]);
    const keys = source();
    const key = await keys.signingKey(url);
    expect(key).toMatchObject({ kid: "rsa", alg: "RS256" });
    await signsVerifiably(keys, url);

    const { keys: published } = await keys.publicJwks();
    expect(published.map((k) => k.kid)).toEqual([expect.any(String), "public", "enc", "rsa"]);
    for (const k of published) for (const member of PRIVATE) expect(k).not.toHaveProperty(member);
  });

  it("infers ES256 for P-256 and EdDSA for Ed25519, and a kid from the thumbprint when there is none", async () => {
    const ec = await privateJwk("ES256");
    const keys = source();
    const ecKey = await keys.signingKey(fileWith("ec.json", [ec]));
    expect(ecKey.alg).toBe("ES256");
    expect(ecKey.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const ed = await privateJwk("EdDSA", { kid: "ed" });
    const edUrl = fileWith("ed.json", [ed]);
    expect(await keys.signingKey(edUrl)).toMatchObject({ kid: "ed", alg: "EdDSA" });
    await signsVerifiably(keys, edUrl);
  });

  it("reads base64:// sets as Oathkeeper does", async () => {
    const ec = await privateJwk("ES256", { kid: "b64" });
    const url = `base64://${Buffer.from(JSON.stringify({ keys: [ec] })).toString("base64")}`;
    expect((await source().signingKey(url)).kid).toBe("b64");
  });

  it("fetches http(s) sets once, and again in the background after five minutes", async () => {
    const first = await privateJwk("ES256", { kid: "first" });
    const second = await privateJwk("ES256", { kid: "second" });
    const server = await startServer((_req, res, i) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [i === 0 ? first : second] }));
    });
    servers.push(server);
    const keys = source();
    const url = `${server.url}/jwks.json`;
    expect((await keys.signingKey(url)).kid).toBe("first");
    expect((await keys.signingKey(url)).kid).toBe("first");
    expect(server.requests).toHaveLength(1);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 5 * 60_000 + 1);
    // The stale set still signs while the new one is fetched.
    expect((await keys.signingKey(url)).kid).toBe("first");
    await vi.waitFor(() => expect(server.requests).toHaveLength(2));
    await vi.waitFor(async () => expect((await keys.signingKey(url)).kid).toBe("second"));
  });

  it("refuses sets it cannot sign with, naming where they come from", async () => {
    const keys = source();
    const noPrivate = fileWith("public.json", [{ kty: "EC", crv: "P-256", x: "x", y: "y", kid: "p" }]);
    const cases: [string, string][] = [
      [noPrivate, "has no private key for signing"],
      [pathToFileURL(join(dir, "missing.json")).href, "cannot read the JSON Web Key Set at file://"],
      [fileWith("odd.json", "nope"), 'is not a JWK set (an object with a "keys" list)'],
    ];
    for (const [url, message] of cases) {
      const err = await rejectionOf(keys.signingKey(url));
      expect(err, message).toBeInstanceOf(UpstreamServiceError);
      expect(err.message, message).toContain(message);
    }
    const server = await startServer((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    servers.push(server);
    const err = await rejectionOf(keys.signingKey(`${server.url}/jwks.json`));
    expect(err.message).toContain(`${server.url}/jwks.json answered 404`);
  });
});
