import { describe, expect, it } from "vitest";
import { OAuth2HttpError } from "../api/http-io.js";
import { hashClientSecret, verifyClientSecret } from "./client-secrets.js";
import {
  formatGoDuration,
  hydraTimestamp,
  parseClientBody,
  parseGoDuration,
  parseLifespans,
  prepareClient,
  publicClientJson,
  type ParsedClient,
} from "./client-validation.js";
import { LIFESPAN_FIELDS, type HydraClient } from "./hydra-client.js";

const NOW = new Date("2025-03-04T05:06:07.400Z");
const create = (body: unknown): ParsedClient => parseClientBody(body, { creating: true, now: NOW });
const update = (existing: HydraClient, body: unknown, now = new Date("2025-06-01T00:00:00Z")): ParsedClient =>
  parseClientBody(body, { creating: false, existing, now });

/** The error `fn` throws. */
function failure(fn: () => unknown): OAuth2HttpError {
  try {
    fn();
  } catch (err) {
    if (err instanceof OAuth2HttpError) return err;
    throw err;
  }
  throw new Error("expected an OAuth2HttpError");
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("parseClientBody: creating", () => {
  it("applies Hydra's defaults to an empty body", () => {
    const { client, plainSecret } = create({});
    expect(client.client_id).toMatch(UUID_V4);
    expect(client).toMatchObject({
      client_name: "",
      client_secret: "",
      redirect_uris: [],
      post_logout_redirect_uris: [],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      scope: "offline_access offline openid",
      audience: [],
      token_endpoint_auth_method: "client_secret_basic",
      subject_type: "public",
      userinfo_signed_response_alg: "none",
      allowed_cors_origins: [],
      skip_consent: false,
      metadata: {},
      owner: "",
      contacts: [],
      client_uri: "",
      logo_uri: "",
      policy_uri: "",
      tos_uri: "",
      created_at: "2025-03-04T05:06:07Z",
      updated_at: "2025-03-04T05:06:07Z",
    });
    expect(client.rotated_secrets).toBeUndefined();
    expect(client.skip_logout_consent).toBeUndefined();
    expect(client.lifespans).toBeUndefined();
    // A secret is generated for client_secret_basic: 26 characters of Hydra's alphabet.
    expect(plainSecret).toMatch(/^[a-zA-Z0-9_.~-]{26}$/);
  });

  it("keeps a given client_id and secret, and the other members", () => {
    const { client, plainSecret } = create({
      client_id: "my-app",
      client_secret: "averylongsecret",
      client_name: "My App",
      redirect_uris: ["https://app.example/cb", "com.example.app:/oauth2redirect"],
      post_logout_redirect_uris: ["https://app.example/bye"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      scope: "openid offline_access photos.read",
      audience: ["https://api.example"],
      owner: "team-a",
      contacts: ["ops@example.com"],
      client_uri: "https://app.example",
      logo_uri: "https://app.example/logo.png",
      policy_uri: "https://app.example/privacy",
      tos_uri: "https://app.example/tos",
      metadata: { tier: "gold", nested: { a: 1 } },
      skip_consent: true,
      skip_logout_consent: true,
      access_token_strategy: "JWT",
      frontchannel_logout_uri: "https://app.example/fc",
      frontchannel_logout_session_required: true,
      backchannel_logout_uri: "https://app.example/bc",
      backchannel_logout_session_required: true,
      authorization_code_grant_access_token_lifespan: "1h",
      client_credentials_grant_access_token_lifespan: "90m",
      refresh_token_grant_refresh_token_lifespan: null,
    });
    expect(plainSecret).toBe("averylongsecret");
    expect(client).toMatchObject({
      client_id: "my-app",
      client_name: "My App",
      scope: "openid offline_access photos.read",
      access_token_strategy: "jwt",
      skip_consent: true,
      skip_logout_consent: true,
      frontchannel_logout_session_required: true,
      backchannel_logout_session_required: true,
      metadata: { tier: "gold", nested: { a: 1 } },
      lifespans: { authorization_code_grant_access_token_lifespan: "1h0m0s", client_credentials_grant_access_token_lifespan: "1h30m0s" },
    });
  });

  it("ignores unknown and read-only members, as Hydra's decoder does", () => {
    const { client } = create({
      client_id: "x1",
      foo: "bar",
      created_at: "2000-01-01T00:00:00Z",
      client_secret_expires_at: 99,
      registration_access_token: "t",
      rotated_secrets: ["$pbkdf2-sha256$..."],
    });
    expect(client.created_at).toBe("2025-03-04T05:06:07Z");
    expect(client.rotated_secrets).toBeUndefined();
    expect(JSON.stringify(client)).not.toContain("foo");
  });

  it("treats null like an absent member", () => {
    const { client } = create({ redirect_uris: null, scope: null, metadata: null, skip_consent: null, jwks: null });
    expect(client.redirect_uris).toEqual([]);
    expect(client.scope).toBe("offline_access offline openid");
    expect(client.metadata).toEqual({});
    expect(client.skip_consent).toBe(false);
  });

  it("refuses members of the wrong JSON type with invalid_request naming the field", () => {
    for (const [body, field] of [
      [{ redirect_uris: "https://a.example/cb" }, "redirect_uris"],
      [{ grant_types: [1] }, "grant_types"],
      [{ skip_consent: "yes" }, "skip_consent"],
      [{ client_name: 3 }, "client_name"],
      [{ metadata: [1, 2] }, "metadata"],
      [{ jwks: { keys: "x" } }, "jwks.keys"],
    ] as const) {
      const err = failure(() => create(body));
      expect(err.status).toBe(400);
      expect(err.error).toBe("invalid_request");
      expect(err.description).toContain(`field ${field} must be`);
    }
    expect(failure(() => create([1])).description).toMatch(/JSON object/);
  });

  it("refuses secrets shorter than 6 characters with Hydra's message", () => {
    const err = failure(() => create({ client_secret: "short" }));
    expect(err.status).toBe(400);
    expect(err.error).toBe("invalid_client_metadata");
    expect(err.description).toMatch(/^The value of one of the Client Metadata fields is invalid/);
    expect(err.description).toContain("Field client_secret must contain a secret that is at least 6 characters long.");
  });

  it("checks token_endpoint_auth_method, refusing client_secret_jwt as Hydra does", () => {
    expect(failure(() => create({ token_endpoint_auth_method: "client_secret_jwt" })).description).toContain(
      "This authorization server does not support client authentication method 'client_secret_jwt'",
    );
    expect(failure(() => create({ token_endpoint_auth_method: "tls_client_auth" })).description).toContain("Field token_endpoint_auth_method must be one of");
    expect(create({ token_endpoint_auth_method: "client_secret_post" }).client.token_endpoint_auth_method).toBe("client_secret_post");
  });

  it("public clients (none) get no secret, even when one is sent", () => {
    const generated = create({ token_endpoint_auth_method: "none" });
    expect(generated.plainSecret).toBeUndefined();
    expect(generated.client.client_secret).toBe("");
    const sent = create({ token_endpoint_auth_method: "none", client_secret: "ignored-secret" });
    expect(sent.plainSecret).toBeUndefined();
    expect(sent.client.client_secret).toBe("");
  });

  it("private_key_jwt needs jwks or jwks_uri (not both), public keys only, and an RS/PS/ES algorithm", () => {
    const jwk = { kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", kid: "k1" };
    expect(failure(() => create({ token_endpoint_auth_method: "private_key_jwt" })).description).toContain(
      "When token_endpoint_auth_method is 'private_key_jwt', either jwks or jwks_uri must be set.",
    );
    expect(failure(() => create({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [] } })).description).toContain("either jwks or jwks_uri");
    const ok = create({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [jwk] }, token_endpoint_auth_signing_alg: "ES256" });
    expect(ok.plainSecret).toBeUndefined();
    expect(ok.client.jwks).toEqual({ keys: [jwk] });
    expect(create({ token_endpoint_auth_method: "private_key_jwt", jwks_uri: "https://app.example/jwks.json" }).client.jwks_uri).toBe("https://app.example/jwks.json");
    expect(failure(() => create({ jwks: { keys: [jwk] }, jwks_uri: "https://app.example/jwks.json" })).description).toContain(
      "Fields jwks and jwks_uri can not both be set, you must choose one.",
    );
    expect(failure(() => create({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [{ ...jwk, d: "secret" }] } })).description).toContain("private key material");
    expect(failure(() => create({ jwks: { keys: [{ kid: "no-kty" }] } })).description).toContain("Invalid JSON web key in set");
    expect(failure(() => create({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [jwk] }, token_endpoint_auth_signing_alg: "HS256" })).description).toContain(
      "Only RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 and ES512 are supported",
    );
  });

  it("redirect URIs must be absolute, fragment-free and not of a script scheme (invalid_redirect_uri)", () => {
    const fragment = failure(() => create({ redirect_uris: ["https://app.example/cb#x"] }));
    expect(fragment.error).toBe("invalid_redirect_uri");
    expect(fragment.description).toContain("Redirect URIs must not contain fragments (#).");
    expect(failure(() => create({ redirect_uris: ["/relative/cb"] })).description).toContain("Unable to parse redirect URL: /relative/cb");
    expect(failure(() => create({ redirect_uris: ["javascript:alert(1)"] })).description).toContain("javascript scheme");
    expect(create({ redirect_uris: ["http://127.0.0.1:8080/cb", "com.example.app:/cb"] }).client.redirect_uris).toHaveLength(2);
  });

  it("post-logout redirect URIs must share scheme, host and port with a redirect URI", () => {
    expect(create({ redirect_uris: ["https://app.example/cb"], post_logout_redirect_uris: ["https://app.example/bye"] }).client.post_logout_redirect_uris).toEqual([
      "https://app.example/bye",
    ]);
    expect(failure(() => create({ redirect_uris: ["https://app.example/cb"], post_logout_redirect_uris: ["https://evil.example/bye"] })).description).toContain(
      'post_logout_redirect_uri "https://evil.example/bye" must match the domain, port, scheme',
    );
    expect(failure(() => create({ redirect_uris: ["https://app.example/cb"], post_logout_redirect_uris: ["http://app.example/bye"] })).error).toBe("invalid_client_metadata");
  });

  it("grant types come from Hydra's set; response types follow them by default", () => {
    expect(failure(() => create({ grant_types: ["password"] })).description).toContain('Field grant_types contains "password"');
    expect(create({ grant_types: ["client_credentials"] }).client.response_types).toEqual([]);
    expect(create({ grant_types: ["authorization_code", "authorization_code", "refresh_token"] }).client.grant_types).toEqual(["authorization_code", "refresh_token"]);
    // Hydra's CLI sends response_types ["code"] for client_credentials clients; Hydra accepts it.
    expect(create({ grant_types: ["client_credentials"], response_types: ["code"] }).client.response_types).toEqual(["code"]);
    expect(create({ grant_types: ["implicit"], response_types: ["id_token  token", "code id_token"] }).client.response_types).toEqual(["id_token token", "code id_token"]);
    expect(failure(() => create({ response_types: ["code foo"] })).description).toContain('Field response_types contains "code foo"');
    expect(failure(() => create({ response_types: ["code code"] })).error).toBe("invalid_client_metadata");
  });

  it("normalises and checks scope", () => {
    expect(create({ scope: "  openid   photos openid " }).client.scope).toBe("openid photos");
    expect(create({ scope: "" }).client.scope).toBe("offline_access offline openid");
    expect(parseClientBody({ scope: "" }, { creating: true, defaultScope: "openid" }).client.scope).toBe("openid");
    expect(failure(() => create({ scope: 'openid "quoted"' })).description).toContain("Field scope contains");
  });

  it("checks and normalises allowed_cors_origins as Hydra does", () => {
    expect(create({ allowed_cors_origins: ["https://app.example/", "http://localhost:3000"] }).client.allowed_cors_origins).toEqual([
      "https://app.example",
      "http://localhost:3000",
    ]);
    expect(failure(() => create({ allowed_cors_origins: ["https://app.example/path"] })).description).toContain("must have an empty path, query, and fragment");
    expect(failure(() => create({ allowed_cors_origins: ["ftp://app.example"] })).description).toContain("must use https:// or http://");
    expect(failure(() => create({ allowed_cors_origins: ["https://u:p@app.example"] })).description).toContain("HTTP user and/or password");
  });

  it("checks the remaining members, naming the field", () => {
    expect(failure(() => create({ tos_uri: "not a uri" })).description).toContain("Field tos_uri must be a valid URI.");
    expect(failure(() => create({ logo_uri: "ftp://x.example/logo" })).description).toContain("logo_uri ftp://x.example/logo must use https:// or http://");
    expect(failure(() => create({ sector_identifier_uri: "http://x.example/s.json" })).description).toContain("sector_identifier_uri must be an HTTPS URL");
    expect(failure(() => create({ userinfo_signed_response_alg: "ES256" })).description).toContain("Field userinfo_signed_response_alg can either be 'none' or 'RS256'.");
    expect(failure(() => create({ access_token_strategy: "magic" })).description).toContain("Field access_token_strategy must be 'opaque' or 'jwt'");
    expect(failure(() => create({ audience: ["has space"] })).description).toContain("Field audience contains");
    expect(failure(() => create({ client_id: "tab\tid" })).description).toContain("Field client_id");
    expect(failure(() => create({ authorization_code_grant_access_token_lifespan: "1 hour" })).description).toContain(
      "Field authorization_code_grant_access_token_lifespan must be a duration",
    );
    expect(failure(() => create({ implicit_grant_id_token_lifespan: "-1h" })).description).toContain("must not be negative");
    expect(failure(() => parseClientBody({ subject_type: "pairwise" }, { creating: true, subjectTypesSupported: ["public"] })).description).toContain(
      "Subject type pairwise is not supported by server, only [public] are allowed.",
    );
    expect(create({ subject_type: "pairwise" }).client.subject_type).toBe("pairwise");
    expect(failure(() => create({ subject_type: "pairwise", redirect_uris: ["https://a.example/cb", "https://b.example/cb"] })).description).toContain(
      "Field sector_identifier_uri must be set for a pairwise client",
    );
    expect(create({ subject_type: "pairwise", redirect_uris: ["https://a.example/cb", "https://a.example/cb2"] }).client.redirect_uris).toHaveLength(2);
  });
});

describe("parseClientBody: updating (PUT semantics)", () => {
  const existingOf = async (): Promise<HydraClient> => {
    const parsed = await prepareClient({ client_id: "c1", client_secret: "original-secret", client_name: "one" }, { creating: true, now: NOW }, (s) =>
      hashClientSecret(s, { iterations: 1000 }),
    );
    return { ...parsed.client, rotated_secrets: ["$pbkdf2-sha256$i=1000,l=32$AAAA$BBBB"] };
  };

  it("keeps the id, created_at, secret hash and rotations when no secret is sent, and replaces the rest", async () => {
    const existing = await existingOf();
    const { client, plainSecret } = update(existing, { client_id: "ignored", client_name: "two" });
    expect(plainSecret).toBeUndefined();
    expect(client.client_id).toBe("c1");
    expect(client.client_name).toBe("two");
    expect(client.created_at).toBe(existing.created_at);
    expect(client.updated_at).toBe("2025-06-01T00:00:00Z");
    expect(client.client_secret).toBe(existing.client_secret);
    expect(client.rotated_secrets).toEqual(existing.rotated_secrets);
    expect(await verifyClientSecret("original-secret", client.client_secret as string)).toBe(true);
  });

  it("a new secret replaces the hash and clears the rotations", async () => {
    const { client, plainSecret } = update(await existingOf(), { client_secret: "brand-new-secret" });
    expect(plainSecret).toBe("brand-new-secret");
    expect(client.client_secret).toBe("");
    expect(client.rotated_secrets).toBeUndefined();
  });

  it("switching to none drops the secret; switching back without one generates a new secret", async () => {
    const existing = await existingOf();
    const pub = update(existing, { token_endpoint_auth_method: "none" });
    expect(pub.client.client_secret).toBe("");
    expect(pub.client.rotated_secrets).toBeUndefined();
    expect(pub.plainSecret).toBeUndefined();
    const back = update(pub.client, { token_endpoint_auth_method: "client_secret_post" });
    expect(back.plainSecret).toMatch(/^[a-zA-Z0-9_.~-]{26}$/);
  });

  it("needs the existing client", () => {
    expect(() => parseClientBody({}, { creating: false })).toThrow(TypeError);
  });
});

describe("publicClientJson", () => {
  it("answers Hydra's shape: no secret hash, no rotations, flattened lifespans, omitempty members left out", async () => {
    const { client } = await prepareClient(
      { client_id: "c2", client_secret: "secret-secret", authorization_code_grant_access_token_lifespan: "30m" },
      { creating: true, now: NOW },
      (s) => hashClientSecret(s, { iterations: 1000 }),
    );
    const json = publicClientJson({ ...client, rotated_secrets: ["x"] });
    expect(json).not.toHaveProperty("client_secret");
    expect(json).not.toHaveProperty("rotated_secrets");
    expect(json).not.toHaveProperty("lifespans");
    expect(json).not.toHaveProperty("post_logout_redirect_uris");
    expect(json).not.toHaveProperty("jwks_uri");
    expect(json).not.toHaveProperty("access_token_strategy");
    expect(json).toMatchObject({
      client_id: "c2",
      client_secret_expires_at: 0,
      jwks: {},
      userinfo_signed_response_alg: "none",
      skip_consent: false,
      skip_logout_consent: null,
      authorization_code_grant_access_token_lifespan: "30m0s",
      refresh_token_grant_refresh_token_lifespan: null,
      created_at: "2025-03-04T05:06:07Z",
    });
    for (const field of LIFESPAN_FIELDS) expect(json).toHaveProperty(field);
    expect(JSON.stringify(json)).not.toContain("pbkdf2");
  });

  it("round-trips: a client's JSON sent back as a PUT body yields the same client", async () => {
    const { client } = create({
      client_id: "rt",
      client_secret: "round-trip-secret",
      redirect_uris: ["https://a.example/cb"],
      post_logout_redirect_uris: ["https://a.example/out"],
      access_token_strategy: "opaque",
      skip_logout_consent: false,
      jwks_uri: "https://a.example/jwks",
      implicit_grant_id_token_lifespan: "5m",
    });
    const stored = { ...client, client_secret: await hashClientSecret("round-trip-secret", { iterations: 1000 }) };
    const again = update(stored, publicClientJson(stored), NOW);
    expect(again.plainSecret).toBeUndefined();
    expect(again.client).toEqual(stored);
  });
});

describe("Go durations", () => {
  it("formats as Go's Duration.String", () => {
    const cases: [bigint, string][] = [
      [0n, "0s"],
      [1n, "1ns"],
      [1_500n, "1.5\u00b5s"],
      [300_000_000n, "300ms"],
      [1_500_000_000n, "1.5s"],
      [90n * 60_000_000_000n, "1h30m0s"],
      [3_600_000_000_000n + 500_000_000n, "1h0m0.5s"],
      [61_000_000_000n, "1m1s"],
      [-2_000_000_000n, "-2s"],
    ];
    for (const [ns, text] of cases) expect(formatGoDuration(ns)).toBe(text);
  });

  it("parses what Go's ParseDuration takes", () => {
    expect(parseGoDuration("1h30m")).toBe(5_400_000_000_000n);
    expect(parseGoDuration("1.5h")).toBe(5_400_000_000_000n);
    expect(parseGoDuration(".5s")).toBe(500_000_000n);
    expect(parseGoDuration("2us")).toBe(2_000n);
    expect(parseGoDuration("2\u00b5s")).toBe(2_000n);
    expect(parseGoDuration("0")).toBe(0n);
    expect(parseGoDuration("-1m")).toBe(-60_000_000_000n);
    for (const bad of ["", "1", "h", "1d", "1h 30m", "3000000h"]) expect(parseGoDuration(bad)).toBeUndefined();
  });

  it("parseLifespans reads only the lifespan members", () => {
    expect(parseLifespans({ client_name: "x" })).toBeUndefined();
    expect(parseLifespans({ jwt_bearer_grant_access_token_lifespan: "10s", device_authorization_grant_id_token_lifespan: null })).toEqual({
      jwt_bearer_grant_access_token_lifespan: "10s",
    });
  });

  it("hydraTimestamp rounds to the second like Hydra", () => {
    expect(hydraTimestamp(new Date("2025-01-01T00:00:00.499Z"))).toBe("2025-01-01T00:00:00Z");
    expect(hydraTimestamp(new Date("2025-01-01T00:00:00.500Z"))).toBe("2025-01-01T00:00:01Z");
  });
});
