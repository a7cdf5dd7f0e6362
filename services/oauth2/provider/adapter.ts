/**
 * oidc-provider's storage adapter over the OAuth2 store.
 *
 * Token-like records (access and refresh tokens, codes, device codes) are keyed by the hash of the token's
 * signature, never by the token: the store holds no usable token, and a token whose MAC does not verify is
 * refused before the store is asked. The token is put back as `jti` when a record is read, so the provider
 * works with it as if it had been stored.
 *
 * `consume` is atomic in every store. A token or code consumed twice (two concurrent refreshes with one
 * refresh token, a code replayed while the first exchange is still running) fails the second caller with
 * `invalid_grant` and revokes everything issued from the grant, the reuse detection of RFC 6819 §5.2.2.3.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { errors } from "oidc-provider";
import { looksLikeJwt, type JwtAccessTokenCodec } from "../keys/jwt-access-tokens.js";
import type { ArtifactPayload, ArtifactStore } from "../store/oauth2-store.js";
import type { ClientStore } from "../store/oauth2-store.js";

/** The kind tag inside an opaque token (`<prefix>_<kind>_...`). */
export type OpaqueTokenKind = "at" | "rt" | "ac" | "dc";

/** Minting and checking of opaque tokens (see `keys/opaque-tokens.ts`). */
export interface OpaqueTokenCodec {
  mint(kind: OpaqueTokenKind): string;
  /** True when the token is well formed and its MAC verifies under some key of the keyring. */
  verify(token: string): boolean;
  /** The id the store keys the token's record by (a hash of its signature). */
  storageId(token: string): string;
}

/** The opaque token kind each token model's values carry. */
export const TOKEN_KIND_OF_MODEL: Readonly<Record<string, OpaqueTokenKind>> = {
  AccessToken: "at",
  ClientCredentials: "at",
  RefreshToken: "rt",
  AuthorizationCode: "ac",
  DeviceCode: "dc",
};

/** Models whose ids are bearer secrets without a MAC (the session cookie): stored under a SHA-256. */
const HASHED_ID_MODELS = new Set(["Session"]);

/** The shape oidc-provider expects of an adapter. */
export interface ProviderAdapter {
  upsert(id: string, payload: ArtifactPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<ArtifactPayload | undefined>;
  findByUid(uid: string): Promise<ArtifactPayload | undefined>;
  findByUserCode(userCode: string): Promise<ArtifactPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

/** What the adapters read clients from: a function turning a stored client into provider metadata. */
export interface ClientSource {
  readonly clients: Pick<ClientStore, "getClient">;
  toMetadata(client: NonNullable<Awaited<ReturnType<ClientStore["getClient"]>>>): Record<string, unknown>;
}

const sha256 = (value: string): string => createHash("sha256").update(value, "utf8").digest("hex");

/** Builds the adapter factory oidc-provider's `adapter` option takes (one adapter per model name). */
export function createAdapterFactory(
  store: ArtifactStore,
  tokens: OpaqueTokenCodec,
  clients: ClientSource,
  markers: StorageIdMarkers,
  jwtAccessTokens?: JwtAccessTokenCodec,
): (model: string) => ProviderAdapter {
  return (model) => (model === "Client" ? clientAdapter(clients) : artifactAdapter(model, store, tokens, markers, jwtAccessTokens));
}

/**
 * Records found by a secondary key (a device code by its user code, a session by its uid) cannot be given
 * their token back: the store only has its hash. They get a stand-in id instead, `storage-id:<hash>.<MAC>`,
 * MACed under a key derived from the system secret, which the adapter accepts wherever a token is. Without
 * the MAC, a storage id read from a database dump could be presented as a token.
 */
export interface StorageIdMarkers {
  mark(storageId: string): string;
  /** The storage id of a valid stand-in, else undefined. */
  open(id: string): string | undefined;
}

const STORAGE_ID_MARKER = "storage-id:";

export function createStorageIdMarkers(keys: readonly Buffer[]): StorageIdMarkers {
  if (keys.length === 0) throw new Error("the adapter needs at least one storage id key");
  const mac = (key: Buffer, storageId: string): Buffer => createHmac("sha256", key).update(storageId, "utf8").digest();
  return {
    mark: (storageId) => `${STORAGE_ID_MARKER}${storageId}.${mac(keys[0] as Buffer, storageId).toString("base64url")}`,
    open(id) {
      if (!id.startsWith(STORAGE_ID_MARKER)) return undefined;
      const dot = id.lastIndexOf(".");
      if (dot < 0) return undefined;
      const storageId = id.slice(STORAGE_ID_MARKER.length, dot);
      const presented = Buffer.from(id.slice(dot + 1), "base64url");
      let valid = false;
      for (const key of keys) {
        const expected = mac(key, storageId);
        valid = (expected.length === presented.length && timingSafeEqual(expected, presented)) || valid;
      }
      return valid ? storageId : undefined;
    },
  };
}

function clientAdapter(source: ClientSource): ProviderAdapter {
  const readOnly = async (): Promise<never> => {
    // Clients are managed through the admin API only (dynamic registration is off).
    throw new Error("clients are read-only to the provider");
  };
  return {
    async find(id) {
      const client = await source.clients.getClient(id);
      return client === undefined ? undefined : source.toMetadata(client);
    },
    upsert: readOnly,
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    consume: readOnly,
    destroy: readOnly,
    revokeByGrantId: async () => {},
  };
}

function artifactAdapter(
  model: string,
  store: ArtifactStore,
  tokens: OpaqueTokenCodec,
  markers: StorageIdMarkers,
  jwtAccessTokens: JwtAccessTokenCodec | undefined,
): ProviderAdapter {
  const kind = TOKEN_KIND_OF_MODEL[model];
  const hashedIds = kind !== undefined || HASHED_ID_MODELS.has(model);
  /** The storage id of a presented id, or undefined when it cannot be one of ours. */
  const keyOf = async (id: string): Promise<string | undefined> => {
    if (hashedIds && id.startsWith(STORAGE_ID_MARKER)) return markers.open(id);
    // A JWT access token names its record's storage id once its signature verifies.
    if (kind === "at" && jwtAccessTokens !== undefined && looksLikeJwt(id)) return jwtAccessTokens.storageIdOf(id);
    if (kind !== undefined) {
      // The kind tag is checked first: an access token presented as a refresh token costs no MAC.
      if (tokenKindOf(id) !== kind || !tokens.verify(id)) return undefined;
      return tokens.storageId(id);
    }
    return HASHED_ID_MODELS.has(model) ? sha256(id) : id;
  };
  const withoutToken = (key: string, payload: ArtifactPayload): ArtifactPayload => (hashedIds ? { ...payload, jti: key } : payload);
  const withToken = (id: string, payload: ArtifactPayload | undefined): ArtifactPayload | undefined =>
    payload === undefined || !hashedIds ? payload : { ...payload, jti: id };
  const withMarker = (payload: ArtifactPayload | undefined): ArtifactPayload | undefined =>
    payload === undefined || !hashedIds ? payload : { ...payload, jti: markers.mark(String(payload["jti"] ?? "")) };

  return {
    async upsert(id, payload, expiresIn) {
      const key = await keyOf(id);
      if (key === undefined) throw new Error(`${model}: refusing to store an id this server did not mint`);
      await store.upsert(model, key, withoutToken(key, payload), expiresIn);
    },
    async find(id) {
      const key = await keyOf(id);
      return key === undefined ? undefined : withToken(id, await store.find(model, key));
    },
    async findByUid(uid) {
      return withMarker(await store.findByUid(model, uid));
    },
    async findByUserCode(userCode) {
      return withMarker(await store.findByUserCode(model, userCode));
    },
    async consume(id) {
      const key = await keyOf(id);
      if (key === undefined) return;
      if (await store.consume(model, key)) return;
      // Lost the race to another redemption of the same token or code: treat it as reuse.
      const payload = await store.find(model, key);
      const grantId = payload?.grantId;
      if (typeof grantId === "string") await store.revokeByGrantId(grantId);
      throw new errors.InvalidGrant(`${model === "RefreshToken" ? "refresh token" : model === "DeviceCode" ? "device code" : "authorization code"} already used`);
    },
    async destroy(id) {
      const key = await keyOf(id);
      if (key !== undefined) await store.destroy(model, key);
    },
    async revokeByGrantId(grantId) {
      await store.revokeByGrantId(grantId);
    },
  };
}

/** The kind tag of a token of ours. */
function tokenKindOf(token: string): OpaqueTokenKind | undefined {
  const match = /^[A-Za-z0-9]+_(at|rt|ac|dc)_/.exec(token);
  return match?.[1] as OpaqueTokenKind | undefined;
}
