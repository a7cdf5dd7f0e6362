import { exportJWK, generateKeyPair } from "jose";
import Provider, { type ClientMetadata, type Configuration } from "oidc-provider";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { hashClientSecret } from "./client-secrets.js";
import { prepareClient } from "./client-validation.js";
import type { HydraClient } from "./hydra-client.js";
import { EXTRA_CLIENT_PROPERTIES, toProviderMetadata, type ProviderMetadataOptions } from "./provider-metadata.js";

const ISSUER = "https://auth.example";
const SCOPES = ["openid", "offline_access", "offline", "photos.read", "email", "profile"];
const GRANTS = ["authorization_code", "refresh_token", "client_credentials", "implicit", "urn:ietf:params:oauth:grant-type:device_code"];
const RESPONSE_TYPES = ["code", "id_token", "id_token token", "code id_token", "none"];

/** A stored client made by the same path the admin API takes. */
async function stored(body: Record<string, unknown>): Promise<HydraClient> {
  const { client } = await prepareClient(body, { creating: true }, (s) => hashClientSecret(s, { iterations: 1000 }));
  return client;
}

/** A provider holding `clients` (mapped), configured like the service's, and each client as it finds it. */
async function findAll(clients: HydraClient[], options: ProviderMetadataOptions = {}, extra: Partial<Configuration> = {}) {
  const provider = new Provider(ISSUER, {
    clients: clients.map((c) => toProviderMetadata(c, options) as ClientMetadata),
    extraClientMetadata: { properties: [...EXTRA_CLIENT_PROPERTIES] },
    scopes: SCOPES,
    responseTypes: RESPONSE_TYPES as Configuration["responseTypes"],
    subjectTypes: ["public", "pairwise"],
    features: {
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: true },
      backchannelLogout: { enabled: true },
      devInteractions: { enabled: false },
    },
    ...extra,
  });
  return Promise.all(clients.map(async (c) => [c.client_id, await provider.Client.find(c.client_id)] as const));
}

let warn: ReturnType<typeof vi.spyOn>;
beforeAll(() => {
  // oidc-provider warns about development keys and cookie secrets; irrelevant here.
  warn = vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterAll(() => warn.mockRestore());

describe("toProviderMetadata", () => {
  it("oidc-provider accepts typical Hydra clients", async () => {
    const { publicKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", use: "sig", alg: "ES256" };
    const clients = await Promise.all([
      // The default: authorization code with a generated secret.
      stored({ client_id: "web", redirect_uris: ["https://app.example/cb"], grant_types: ["authorization_code", "refresh_token"], scope: "openid offline_access photos.read" }),
      // Hydra's CLI: `hydra create client --grant-type client_credentials` (response type "code", no redirect URI).
      stored({ client_id: "machine", grant_types: ["client_credentials"], response_types: ["code"], token_endpoint_auth_method: "client_secret_post" }),
      // A native public client with a custom scheme and a loopback redirect.
      stored({
        client_id: "native",
        token_endpoint_auth_method: "none",
        redirect_uris: ["com.example.app:/oauth2redirect", "http://127.0.0.1:7777/cb"],
        grant_types: ["authorization_code", "refresh_token"],
      }),
      // private_key_jwt with inline keys, and a device-flow client.
      stored({ client_id: "pkjwt", token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [jwk] }, token_endpoint_auth_signing_alg: "ES256", grant_types: ["client_credentials"] }),
      stored({ client_id: "tv", token_endpoint_auth_method: "none", grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"] }),
      // Everything Hydra-only, plus members oidc-provider would refuse as they stand (empty strings, non-email contacts).
      stored({
        client_id: "rich",
        client_name: "Rich",
        redirect_uris: ["https://rich.example/cb"],
        post_logout_redirect_uris: ["https://rich.example/bye"],
        contacts: ["not an email"],
        logo_uri: "",
        client_uri: "https://rich.example",
        audience: ["https://api.example"],
        skip_consent: true,
        skip_logout_consent: true,
        access_token_strategy: "jwt",
        allowed_cors_origins: ["https://rich.example"],
        metadata: { plan: "pro" },
        owner: "acme",
        frontchannel_logout_uri: "https://rich.example/fc",
        backchannel_logout_uri: "https://rich.example/bc",
        backchannel_logout_session_required: true,
        authorization_code_grant_access_token_lifespan: "15m",
        userinfo_signed_response_alg: "none",
      }),
      // Implicit on a localhost redirect (oidc-provider forbids it): the implicit types go, code stays.
      stored({ client_id: "spa", redirect_uris: ["http://localhost:3000/cb"], grant_types: ["authorization_code", "implicit"], response_types: ["code", "id_token"] }),
      // Implicit on https is kept.
      stored({ client_id: "legacy", redirect_uris: ["https://legacy.example/cb"], grant_types: ["implicit"], response_types: ["id_token token"] }),
      // Pairwise with one redirect host.
      stored({ client_id: "pairwise", subject_type: "pairwise", redirect_uris: ["https://p.example/cb", "https://p.example/cb2"] }),
      // A pairwise device-flow client without private_key_jwt: oidc-provider would refuse it, so the grant goes.
      stored({ client_id: "pairwise-tv", subject_type: "pairwise", token_endpoint_auth_method: "none", grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"] }),
      // authorization_code but no redirect URI yet (Hydra allows it): only the refresh grant remains usable.
      stored({ client_id: "unfinished", grant_types: ["authorization_code", "refresh_token"] }),
    ]);
    const found = new Map(await findAll(clients, { grantTypes: GRANTS, responseTypes: RESPONSE_TYPES }));
    for (const [id, client] of found) expect(client, id).toBeDefined();

    const web = found.get("web");
    expect(web?.grantTypes).toEqual(["authorization_code", "refresh_token"]);
    expect(web?.responseTypes).toEqual(["code"]);
    expect(web?.clientSecret).toMatch(/^\$pbkdf2-sha256\$/);
    expect(web?.scope).toBe("openid offline_access photos.read");

    const machine = found.get("machine");
    expect(machine?.grantTypes).toEqual(["client_credentials"]);
    expect(machine?.responseTypes).toEqual([]);
    expect(machine?.tokenEndpointAuthMethod).toBe("client_secret_post");

    const native = found.get("native");
    expect(native?.applicationType).toBe("native");
    expect(native?.clientSecret).toBeUndefined();
    expect(native?.redirectUris).toEqual(["com.example.app:/oauth2redirect", "http://127.0.0.1:7777/cb"]);

    expect(found.get("pkjwt")?.tokenEndpointAuthSigningAlg).toBe("ES256");
    expect(found.get("tv")?.grantTypes).toEqual(["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]);

    const rich = found.get("rich") as unknown as Record<string, unknown>;
    expect(rich["audience"]).toEqual(["https://api.example"]);
    expect(rich["skip_consent"]).toBe(true);
    expect(rich["skip_logout_consent"]).toBe(true);
    expect(rich["access_token_strategy"]).toBe("jwt");
    expect(rich["allowed_cors_origins"]).toEqual(["https://rich.example"]);
    expect(rich["owner"]).toBe("acme");
    expect(rich["frontchannel_logout_uri"]).toBe("https://rich.example/fc");
    expect(rich["lifespans"]).toEqual({ authorization_code_grant_access_token_lifespan: "15m0s" });
    expect(rich["backchannelLogoutUri"]).toBe("https://rich.example/bc");
    expect(rich["logoUri"]).toBeUndefined();
    expect(rich["contacts"]).toBeUndefined();
    // Hydra's free-form metadata stays out of the provider (it would shadow Client#metadata()).
    expect(typeof rich["metadata"]).toBe("function");

    expect(found.get("spa")?.responseTypes).toEqual(["code"]);
    expect(found.get("spa")?.grantTypes).toEqual(["authorization_code"]);
    expect(found.get("legacy")?.responseTypes).toEqual(["id_token token"]);
    expect(found.get("legacy")?.grantTypes).toEqual(["implicit"]);
    expect(found.get("pairwise")?.subjectType).toBe("pairwise");
    expect(found.get("pairwise-tv")?.grantTypes).toEqual(["refresh_token"]);
    expect(found.get("unfinished")?.grantTypes).toEqual(["refresh_token"]);
    expect(found.get("unfinished")?.responseTypes).toEqual([]);
  });

  it("never passes what the provider does not support, when told what it supports", async () => {
    const bearer = await stored({ client_id: "bearer", grant_types: ["urn:ietf:params:oauth:grant-type:jwt-bearer", "client_credentials"] });
    // Unfiltered, the provider (no jwt-bearer handler registered) refuses the client outright...
    await expect(findAll([bearer])).rejects.toMatchObject({ error: "invalid_client_metadata", error_description: expect.stringContaining("grant_types") });
    // ...filtered by its grant types, the client keeps what it can use.
    const [entry] = await findAll([bearer], { grantTypes: GRANTS });
    expect(entry?.[1]?.grantTypes).toEqual(["client_credentials"]);
  });

  it("only narrows: no grant or response type is ever added", async () => {
    const c = await stored({ client_id: "cc", grant_types: ["client_credentials"], response_types: ["code", "code id_token"], redirect_uris: ["https://x.example/cb"] });
    const md = toProviderMetadata(c);
    expect(md["grant_types"]).toEqual(["client_credentials"]);
    expect(md["response_types"]).toEqual([]);
    expect(md).not.toHaveProperty("rotated_secrets");
    expect(md).not.toHaveProperty("created_at");
    expect(md).not.toHaveProperty("updated_at");
    expect(md).not.toHaveProperty("client_secret_expires_at");
  });

  it("passes the secret hash only for the secret-based methods", async () => {
    const basic = await stored({ client_id: "b", client_secret: "basic-secret" });
    const keyed = { ...(await stored({ client_id: "k", token_endpoint_auth_method: "private_key_jwt", jwks_uri: "https://k.example/jwks" })), client_secret: "$pbkdf2-sha256$i=1,l=32$AA$AA" };
    expect(toProviderMetadata(basic)["client_secret"]).toBe(basic.client_secret);
    expect(toProviderMetadata(keyed)).not.toHaveProperty("client_secret");
    expect(toProviderMetadata(keyed)["jwks_uri"]).toBe("https://k.example/jwks");
  });

  it("lists the extra properties by their exact names", () => {
    expect(EXTRA_CLIENT_PROPERTIES).toEqual([
      "audience",
      "skip_consent",
      "skip_logout_consent",
      "access_token_strategy",
      "allowed_cors_origins",
      "owner",
      "frontchannel_logout_uri",
      "frontchannel_logout_session_required",
      "lifespans",
    ]);
  });
});
