import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type JWK } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { GatehouseError, InvalidArgumentError } from "../../../../common/errors.js";
import { contextOf, rejectionOf, requestOf, sessionOf, testDeps, thrownBy, type TestDeps } from "../authorizers/test-support.js";
import type { SigningKeySource } from "../deps.js";
import { createOutboundHttp } from "../outbound-http.js";
import { idTokenMutator } from "./id-token.js";
import { createSigningKeySource } from "./signing-keys.js";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-id-token-"));
const opened: TestDeps[] = [];
afterAll(async () => {
  for (const d of opened) await d.http.close();
  rmSync(dir, { recursive: true, force: true });
});

const ctx = contextOf("id_token", "mutators");

function setup(): { deps: TestDeps; keys: SigningKeySource } {
  const http = createOutboundHttp({ timeoutMillis: 2_000 });
  const keys = createSigningKeySource({ http, log: () => {} });
  const deps = testDeps({ signingKeys: keys, http });
  opened.push(deps);
  return { deps, keys };
}

function bearer(header: Record<string, string>): string {
  const value = header.Authorization ?? "";
  expect(value).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  return value.slice("Bearer ".length);
}

async function verified(token: string, keys: SigningKeySource, deps: TestDeps) {
  return jwtVerify(token, createLocalJWKSet((await keys.publicJwks()) as { keys: JWK[] }), { currentDate: new Date(deps.clock) });
}

describe("id_token", () => {
  it("mints a JWT the published keys verify, with the gateway's claims winning over the template's", async () => {
    const { deps, keys } = setup();
    const mutator = idTokenMutator(deps).prepare(
      {
        issuer_url: "https://gateway.example.com/",
        claims: '{"email": "{{ .Extra.email }}", "aud": ["api"], "sub": "spoof", "iss": "spoof", "exp": 1}',
      },
      ctx,
    );
    const session = sessionOf("anne", { extra: { email: "anne@example.com" }, header: { authorization: "Basic old", "X-Other": "kept" } });
    await mutator.mutate(requestOf(), session);
    const token = bearer(session.header);
    expect(session.header).not.toHaveProperty("authorization");
    expect(session.header["X-Other"]).toBe("kept");

    const { payload, protectedHeader } = await verified(token, keys, deps);
    expect(protectedHeader).toMatchObject({ typ: "JWT", alg: "ES256", kid: (await keys.signingKey(undefined)).kid });
    const now = Math.floor(deps.clock / 1000);
    expect(payload).toMatchObject({ iss: "https://gateway.example.com/", sub: "anne", aud: ["api"], email: "anne@example.com", iat: now, nbf: now, exp: now + 900 });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("reuses a token until less than a tenth of its lifetime is left", async () => {
    const { deps } = setup();
    const mutator = idTokenMutator(deps).prepare({ issuer_url: "https://gw/", ttl: "10m", claims: '{"team": "{{ .Extra.team }}"}' }, ctx);
    const mint = async (subject: string, team = "a"): Promise<string> => {
      const session = sessionOf(subject, { extra: { team } });
      await mutator.mutate(requestOf(), session);
      return bearer(session.header);
    };
    const first = await mint("anne");
    expect(await mint("anne")).toBe(first);
    expect(await mint("bob")).not.toBe(first);
    expect(await mint("anne", "b")).not.toBe(first);
    deps.clock += 9 * 60_000 - 1_000; // 61 s left: more than a tenth
    expect(await mint("anne")).toBe(first);
    deps.clock += 2_000; // 59 s left: less than a tenth
    const second = await mint("anne");
    expect(second).not.toBe(first);
    expect(await mint("anne")).toBe(second);
  });

  it("signs with the keys of jwks_url when given", async () => {
    const { deps, keys } = setup();
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    const path = join(dir, "jwks.json");
    writeFileSync(path, JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: "from-file" }] }));
    const mutator = idTokenMutator(deps).prepare({ issuer_url: "https://gw/", jwks_url: pathToFileURL(path).href, ttl: "1m" }, ctx);
    const session = sessionOf("anne");
    await mutator.mutate(requestOf(), session);
    const token = bearer(session.header);
    expect(decodeProtectedHeader(token)).toMatchObject({ kid: "from-file", alg: "RS256" });
    const { payload } = await verified(token, keys, deps);
    expect((payload.exp as number) - (payload.iat as number)).toBe(60);
  });

  it("fails with an internal error naming the rule when the claims do not render to a JSON object", async () => {
    const { deps } = setup();
    const mutator = idTokenMutator(deps).prepare({ issuer_url: "https://gw/", claims: '["{{ .Subject }}"]' }, ctx);
    const err = await rejectionOf(mutator.mutate(requestOf(), sessionOf("anne")));
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe("internal");
    expect(err.message).toContain('rule "r1" mutators[0] (id_token): config.claims');
  });

  it("refuses bad configuration at prepare, naming where and the key", () => {
    const { deps } = setup();
    const noKeys = thrownBy(() => idTokenMutator(testDeps({ http: deps.http })).prepare({ issuer_url: "https://gw/" }, ctx));
    expect(noKeys).toBeInstanceOf(InvalidArgumentError);
    expect(noKeys.message).toContain('rule "r1" mutators[0] (id_token): the id_token mutator needs signing keys');
    const cases: [Record<string, unknown>, string][] = [
      [{}, "config.issuer_url is required"],
      [{ issuer_url: "https://gw/", jwks_url: "ldap://keys" }, "config.jwks_url must be a file://, http(s):// or base64:// URL"],
      [{ issuer_url: "https://gw/", ttl: "500ms" }, "config.ttl must be at least 1s"],
      [{ issuer_url: "https://gw/", ttl: "forever" }, "config.ttl must be a duration"],
      [{ issuer_url: "https://gw/", claims: "{{ .Extra" }, "config.claims"],
    ];
    for (const [config, message] of cases) {
      const err = thrownBy(() => idTokenMutator(deps).prepare(config, ctx));
      expect(err, message).toBeInstanceOf(InvalidArgumentError);
      expect(err.message, message).toContain('rule "r1" mutators[0] (id_token)');
      expect(err.message, message).toContain(message);
    }
  });
});
