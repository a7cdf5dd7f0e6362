import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NotResponsibleError, UnauthorizedError, UpstreamServiceError } from "../errors.js";
import { configError, failsWith, makeDeps, prepare, request, run, startServer, type TestDeps, type TestServer } from "./test-fixtures.js";

interface Signer {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function signer(kid: string, alg: "RS256" | "ES256"): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

let rsa: Signer;
let rsa2: Signer;
let ec: Signer;
let impostor: Signer;
let jwksServer: TestServer;
/** The keys the JWKS endpoint currently publishes. */
let published: JWK[];
let tmp: string;
let t: TestDeps;

beforeAll(async () => {
  [rsa, rsa2, ec, impostor] = await Promise.all([signer("k1", "RS256"), signer("k2", "RS256"), signer("e1", "ES256"), signer("k1", "RS256")]);
  jwksServer = await startServer((req) => (req.url === "/slow" ? { delayMillis: 400, body: { keys: published } } : req.url === "/down" ? { status: 502, body: {} } : { body: { keys: published } }));
  tmp = await mkdtemp(join(tmpdir(), "gatehouse-jwt-"));
});
afterAll(async () => {
  await jwksServer.close();
  await rm(tmp, { recursive: true, force: true });
});
beforeEach(async () => {
  // A fresh gateway per test: the JWKS cache is per deps.
  t = makeDeps();
  published = [rsa.jwk, ec.jwk];
  jwksServer.calls.length = 0;
  return () => t.close();
});

const nowSeconds = () => Math.floor(t.clock.now / 1000);

async function token(key: Signer, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: "user-1", iss: "https://issuer.example", aud: ["api"], iat: nowSeconds(), exp: nowSeconds() + 600, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}

const bearer = (jwt: string) => request("http://api.local/x", { authorization: `Bearer ${jwt}` });
const base = (extra: Record<string, unknown> = {}) => ({ jwks_urls: [`${jwksServer.url}/jwks.json`], ...extra });

describe("jwt responsibility", () => {
  it("is responsible only for tokens with three parts", async () => {
    const auth = prepare(t.deps, "jwt", base());
    await failsWith(auth, request("http://api.local/x"), NotResponsibleError);
    await failsWith(auth, bearer("opaque-token"), NotResponsibleError);
    await failsWith(auth, bearer("a.b"), NotResponsibleError);
    await failsWith(auth, bearer("a.b.c"), UnauthorizedError);
    expect(jwksServer.calls).toHaveLength(0);
  });
});

describe("jwt verification", () => {
  it("verifies against the JWKS; subject is sub, extra all claims with scp normalised", async () => {
    const session = await run(prepare(t.deps, "jwt", base()), bearer(await token(rsa, { scope: "read write", tenant: "t1" })));
    expect(session.subject).toBe("user-1");
    expect(session.extra).toMatchObject({ sub: "user-1", iss: "https://issuer.example", aud: ["api"], tenant: "t1", scp: ["read", "write"] });
    expect(session.extra).not.toHaveProperty("scope");
  });

  it("reads the token from token_from", async () => {
    const auth = prepare(t.deps, "jwt", base({ token_from: { query_parameter: "jwt" } }));
    expect((await run(auth, request(`http://api.local/x?jwt=${await token(rsa)}`))).subject).toBe("user-1");
  });

  it("accepts only allowed_algorithms (default RS256)", async () => {
    const es = await token(ec);
    await failsWith(prepare(t.deps, "jwt", base()), bearer(es), UnauthorizedError);
    expect((await run(prepare(t.deps, "jwt", base({ allowed_algorithms: ["ES256", "RS256"] })), bearer(es))).subject).toBe("user-1");
  });

  it("refuses tokens without kid, with a bad signature, expired, not yet valid or issued in the future", async () => {
    const auth = prepare(t.deps, "jwt", base());
    const noKid = await new SignJWT({ sub: "x" }).setProtectedHeader({ alg: "RS256" }).sign(rsa.privateKey);
    await failsWith(auth, bearer(noKid), UnauthorizedError);
    await failsWith(auth, bearer(await token(impostor)), UnauthorizedError);
    await failsWith(auth, bearer(await token(rsa, { exp: nowSeconds() - 60 })), UnauthorizedError);
    await failsWith(auth, bearer(await token(rsa, { nbf: nowSeconds() + 60 })), UnauthorizedError);
    await failsWith(auth, bearer(await token(rsa, { iat: nowSeconds() + 60 })), UnauthorizedError);
    const tampered = (await token(rsa)).split(".");
    tampered[1] = Buffer.from(JSON.stringify({ sub: "admin", exp: nowSeconds() + 600 })).toString("base64url");
    await failsWith(auth, bearer(tampered.join(".")), UnauthorizedError);
    // A few seconds of clock skew are tolerated.
    await run(auth, bearer(await token(rsa, { exp: nowSeconds() - 2 })));
  });

  it("checks every target_audience and the trusted issuers", async () => {
    const jwt = await token(rsa, { aud: ["api", "billing"] });
    await run(prepare(t.deps, "jwt", base({ target_audience: ["api", "billing"], trusted_issuers: ["https://other", "https://issuer.example"] })), bearer(jwt));
    await failsWith(prepare(t.deps, "jwt", base({ target_audience: ["api", "admin"] })), bearer(jwt), UnauthorizedError);
    await failsWith(prepare(t.deps, "jwt", base({ trusted_issuers: ["https://other"] })), bearer(jwt), UnauthorizedError);
    await run(prepare(t.deps, "jwt", base({ target_audience: ["solo"] })), bearer(await token(rsa, { aud: "solo" })));
  });

  it("checks required scopes from scp lists or scope strings under the scope strategy", async () => {
    const scp = await token(rsa, { scp: ["orders.read", "profile"] });
    const scope = await token(rsa, { scope: "orders profile" });
    const rule = (scope_strategy: string, required_scope: string[]) => prepare(t.deps, "jwt", base({ scope_strategy, required_scope }));
    await run(rule("exact", ["orders.read"]), bearer(scp));
    await failsWith(rule("exact", ["orders.write"]), bearer(scp), UnauthorizedError);
    await run(rule("hierarchic", ["orders.write"]), bearer(scope));
    await failsWith(rule("hierarchic", ["orders.write"]), bearer(scp), UnauthorizedError);
    await run(rule("wildcard", ["orders.read", "profile"]), bearer(scp));
    expect((await run(rule("exact", []), bearer(await token(rsa)))).extra["scp"]).toEqual([]);
  });
});

describe("jwt key sets", () => {
  it("caches a key set per URL for jwks_ttl, shared across rules", async () => {
    const a = prepare(t.deps, "jwt", base({ jwks_ttl: "30s" }));
    const b = prepare(t.deps, "jwt", base({ trusted_issuers: ["https://issuer.example"] }));
    await run(a, bearer(await token(rsa)));
    await run(b, bearer(await token(rsa)));
    // A disallowed algorithm is refused before any key lookup.
    await failsWith(a, bearer(await token(ec)), UnauthorizedError);
    expect(jwksServer.calls).toHaveLength(1);
    t.clock.now += 31_000;
    await run(a, bearer(await token(rsa)));
    expect(jwksServer.calls).toHaveLength(2);
  });

  it("refetches for an unknown kid (key rotation), at most once per second", async () => {
    const auth = prepare(t.deps, "jwt", base());
    await run(auth, bearer(await token(rsa)));
    published = [rsa.jwk, rsa2.jwk];
    // Within a second of the last fetch the new kid is not looked for yet.
    await failsWith(auth, bearer(await token(rsa2)), UnauthorizedError);
    expect(jwksServer.calls).toHaveLength(1);
    t.clock.now += 1_100;
    expect((await run(auth, bearer(await token(rsa2)))).subject).toBe("user-1");
    expect(jwksServer.calls).toHaveLength(2);
    const ghost = await token({ ...rsa, kid: "ghost" });
    await failsWith(auth, bearer(ghost), UnauthorizedError);
    await failsWith(auth, bearer(ghost), UnauthorizedError);
    expect(jwksServer.calls).toHaveLength(2);
    t.clock.now += 1_100;
    await failsWith(auth, bearer(ghost), UnauthorizedError);
    expect(jwksServer.calls).toHaveLength(3);
  });

  it("finds the kid in any of the jwks_urls", async () => {
    const file = join(tmp, "only-ec.json");
    await writeFile(file, JSON.stringify({ keys: [ec.jwk] }));
    published = [rsa.jwk];
    const auth = prepare(t.deps, "jwt", { jwks_urls: [pathToFileURL(file).href, `${jwksServer.url}/jwks.json`], allowed_algorithms: ["RS256", "ES256"] });
    expect((await run(auth, bearer(await token(ec)))).subject).toBe("user-1");
    expect((await run(auth, bearer(await token(rsa)))).subject).toBe("user-1");
  });

  it("reports an unreachable or failing JWKS as UpstreamServiceError", async () => {
    await failsWith(prepare(t.deps, "jwt", { jwks_urls: [`${jwksServer.url}/down`] }), bearer(await token(rsa)), UpstreamServiceError);
    await failsWith(prepare(t.deps, "jwt", { jwks_urls: [pathToFileURL(join(tmp, "missing.json")).href] }), bearer(await token(rsa)), UpstreamServiceError);
    expect(t.logs.some((l) => l.includes("could not read the JSON Web Key Set"))).toBe(true);
  });

  it("waits at most jwks_max_wait; a stale set is used only then", async () => {
    const slow = prepare(t.deps, "jwt", { jwks_urls: [`${jwksServer.url}/slow`], jwks_max_wait: "50ms", jwks_ttl: "10s" });
    const e = await failsWith(slow, bearer(await token(rsa)), UpstreamServiceError);
    expect(e.message).toContain("no answer within 50 ms");
    // The fetch carries on in the background and fills the cache.
    await new Promise((r) => setTimeout(r, 500));
    await run(slow, bearer(await token(rsa)));
    expect(jwksServer.calls).toHaveLength(1);
    // Expired: the refresh is slow again, so the stale set answers.
    t.clock.now += 11_000;
    expect((await run(slow, bearer(await token(rsa)))).subject).toBe("user-1");
    expect(jwksServer.calls).toHaveLength(2);
  });
});

describe("jwt configuration", () => {
  it("refuses bad configuration naming the key", () => {
    expect(configError(t.deps, "jwt", {})).toMatch(/\(jwt\): config\.jwks_urls is required/);
    expect(configError(t.deps, "jwt", { jwks_urls: ["https://a/jwks.json", "ftp://b/jwks.json"] })).toMatch(/config\.jwks_urls\[1\] must be an http\(s\):\/\/ or file:\/\/ URL/);
    expect(configError(t.deps, "jwt", base({ allowed_algorithms: ["HS256"] }))).toMatch(/config\.allowed_algorithms has unsupported algorithms HS256/);
    expect(configError(t.deps, "jwt", base({ jwks_ttl: "forever" }))).toMatch(/config\.jwks_ttl must be a duration/);
    expect(configError(t.deps, "jwt", base({ required_scope: ["a"] }))).toMatch(/config\.required_scope needs a scope_strategy other than "none"/);
    expect(configError(t.deps, "jwt", base({ prefix: "x" }))).toMatch(/config\.prefix is not a known option/);
  });
});
