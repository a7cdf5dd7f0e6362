/**
 * The peer of figure group 8: a plain `oidc-provider` configured the way Gatehouse's OAuth2 service is for
 * the client-credentials grant, without Gatehouse's compatibility layer (Hydra's routes and admin API, the
 * plane server and its observability, Hydra-shaped clients, scope opening, request-body scope registration).
 *
 * "The same way" means:
 * - features: clientCredentials and introspection on, devInteractions off; client_secret_basic/post;
 * - storage: a minimal adapter of our own over the same `OAuth2Store` kind the Gatehouse side uses (memory or
 *   PGlite); clients are plain artifacts of the `Client` model holding provider metadata;
 * - hashed secrets: the client's `client_secret` is stored as the same PBKDF2-SHA256 hash
 *   (`hashClientSecret`), and `Client.prototype.compareClientSecret` verifies it with the same caching
 *   verifier (`createSecretVerifier`);
 * - the same token format: `generateTokenId` of the token models is replaced the way
 *   `services/oauth2/provider/create-provider.ts` does, minting `gh_at_<random>.<mac>` with
 *   `keys/opaque-tokens.ts`, and the adapter keys token records by `storageId` (SHA-384 of the MAC part) after
 *   checking the MAC, so a stored record holds no usable token;
 * - the same access-token lifetime (1 h) and RS256 signing keys (generated with jose; the grant signs nothing).
 *
 * It is served by a bare `node:http` server (`provider.callback()`), on oidc-provider's own routes
 * (`/token`, `/token/introspection`).
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import { Provider, type Configuration } from "oidc-provider";
import type { SecretVerifier } from "../../services/oauth2/clients/client-secrets.js";
import type { OpaqueTokenKind, OpaqueTokens } from "../../services/oauth2/keys/opaque-tokens.js";
import type { ArtifactPayload, ArtifactStore } from "../../services/oauth2/store/oauth2-store.js";

/** The opaque kind minted for each token model (the grant here only uses ClientCredentials). */
const TOKEN_MODELS: Readonly<Record<string, OpaqueTokenKind>> = {
  AccessToken: "at",
  ClientCredentials: "at",
  RefreshToken: "rt",
  AuthorizationCode: "ac",
  DeviceCode: "dc",
};

/** The peer's client, as provider metadata (the secret already hashed). */
export interface PeerClient {
  readonly clientId: string;
  readonly secretHash: string;
  readonly scope: string;
}

/** Options of `startPeer`. */
export interface PeerOptions {
  readonly store: ArtifactStore;
  readonly tokens: OpaqueTokens;
  readonly verifier: SecretVerifier;
  readonly client: PeerClient;
  readonly host?: string;
  readonly port?: number;
}

/** The running peer. */
export interface Peer {
  readonly base: string;
  readonly tokenPath: string;
  readonly introspectionPath: string;
  close(): Promise<void>;
}

/** A minimal oidc-provider adapter over the artifact store (the peer's own, not Gatehouse's `adapter.ts`). */
function peerAdapter(store: ArtifactStore, tokens: OpaqueTokens): (model: string) => Record<string, (...args: never[]) => Promise<unknown>> {
  return (model) => {
    const kind = TOKEN_MODELS[model];
    // Token ids are stored under the hash of their MAC part, once the MAC checks out (the same token format).
    const keyOf = (id: string): string | undefined => (kind === undefined ? id : tokens.verify(id, kind) ? tokens.storageId(id) : undefined);
    return {
      async upsert(id: string, payload: ArtifactPayload, expiresIn?: number) {
        const key = keyOf(id);
        if (key === undefined) throw new Error(`${model}: not a token of this server`);
        await store.upsert(model, key, kind === undefined ? payload : { ...payload, jti: key }, expiresIn);
      },
      async find(id: string) {
        const key = keyOf(id);
        if (key === undefined) return undefined;
        const payload = await store.find(model, key);
        return payload === undefined || kind === undefined ? payload : { ...payload, jti: id };
      },
      async findByUid(uid: string) {
        return store.findByUid(model, uid);
      },
      async findByUserCode(userCode: string) {
        return store.findByUserCode(model, userCode);
      },
      async consume(id: string) {
        const key = keyOf(id);
        if (key !== undefined) await store.consume(model, key);
      },
      async destroy(id: string) {
        const key = keyOf(id);
        if (key !== undefined) await store.destroy(model, key);
      },
      async revokeByGrantId(grantId: string) {
        await store.revokeByGrantId(grantId);
      },
    };
  };
}

/** Stores the peer's client (a `Client` artifact, never expiring) and starts the provider on a free port. */
export async function startPeer(options: PeerOptions): Promise<Peer> {
  const { client } = options;
  await options.store.upsert(
    "Client",
    client.clientId,
    {
      client_id: client.clientId,
      client_secret: client.secretHash,
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: "client_secret_basic",
      scope: client.scope,
    },
    undefined,
  );
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: "peer-rs256", alg: "RS256", use: "sig" };
  const configuration: Configuration = {
    adapter: peerAdapter(options.store, options.tokens) as unknown as Configuration["adapter"],
    jwks: { keys: [jwk] as NonNullable<Configuration["jwks"]>["keys"] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    scopes: ["openid", "offline_access", ...client.scope.split(" ")],
    clientAuthMethods: ["client_secret_basic", "client_secret_post"],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
    },
    ttl: { ClientCredentials: 3600 },
  };
  // Bound first, so the issuer is the server's own URL (as with Gatehouse's planes).
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const server: Server = createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(base, configuration);
  // Opaque ids from the same codec, replaced the way create-provider.ts does (the original still runs).
  for (const [model, kind] of Object.entries(TOKEN_MODELS)) {
    const proto = (provider as unknown as Record<string, { prototype: { generateTokenId(this: { format?: string }): string } }>)[model]?.prototype;
    if (proto === undefined) continue;
    const original = proto.generateTokenId;
    proto.generateTokenId = function generateTokenId(this: { format?: string }) {
      const own = original.call(this);
      return this.format === "jwt" ? own : options.tokens.mint(kind);
    };
  }
  // Hashed secrets: verify the stored PBKDF2 hash with the caching verifier.
  const clientProto = provider.Client.prototype as unknown as { compareClientSecret(this: { clientSecret?: string }, actual: string): Promise<boolean> };
  clientProto.compareClientSecret = async function compareClientSecret(actual) {
    const stored = this.clientSecret;
    if (typeof stored !== "string" || stored === "" || typeof actual !== "string") return false;
    return options.verifier.verify(actual, stored);
  };
  provider.on("server_error", (_ctx: unknown, err: unknown) => {
    process.stderr.write(`peer: server error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  });
  handle = provider.callback();
  return {
    base,
    tokenPath: "/token",
    introspectionPath: "/token/introspection",
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
