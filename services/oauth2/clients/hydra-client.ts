/**
 * An OAuth2 client in Hydra's JSON shape (`oAuth2Client`), the form the admin API speaks and the store
 * keeps. In storage `client_secret` is the secret's hash; the admin API never returns it after creation.
 */

/** Client authentication methods we accept (Hydra's set; `client_secret_jwt` is refused as Hydra does). */
export type TokenEndpointAuthMethod = "client_secret_basic" | "client_secret_post" | "private_key_jwt" | "none";

/** Hydra's `oAuth2Client`. Timestamps are RFC 3339 strings. */
export interface HydraClient {
  client_id: string;
  client_name: string;
  /** Hash of the secret in storage ("" for public clients); the plain secret only in the create answer. */
  client_secret?: string;
  /** Hashes of rotated secrets still accepted (Hydra keeps up to 5). */
  rotated_secrets?: string[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  /** Space-separated scopes the client may request. */
  scope: string;
  audience: string[];
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  token_endpoint_auth_signing_alg?: string;
  jwks?: { keys: Record<string, unknown>[] };
  jwks_uri?: string;
  subject_type: "public" | "pairwise";
  sector_identifier_uri?: string;
  userinfo_signed_response_alg?: string;
  request_object_signing_alg?: string;
  request_uris?: string[];
  frontchannel_logout_uri?: string;
  frontchannel_logout_session_required?: boolean;
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
  allowed_cors_origins: string[];
  /** `opaque` (default) or `jwt` access tokens. */
  access_token_strategy?: "opaque" | "jwt";
  /** First-party clients: consent is granted without asking. */
  skip_consent: boolean;
  skip_logout_consent?: boolean;
  metadata: Record<string, unknown>;
  owner: string;
  contacts: string[];
  client_uri: string;
  logo_uri: string;
  policy_uri: string;
  tos_uri: string;
  created_at: string;
  updated_at: string;
  /** Per-grant token lifespans (Hydra's `*_lifespan`, Go durations such as "1h0m0s"); absent = the defaults. */
  lifespans?: Record<string, string>;
}

/** Hydra's per-client lifespan fields (`oAuth2ClientTokenLifespans`), the keys of `HydraClient.lifespans`. */
export const LIFESPAN_FIELDS = [
  "authorization_code_grant_access_token_lifespan",
  "authorization_code_grant_id_token_lifespan",
  "authorization_code_grant_refresh_token_lifespan",
  "client_credentials_grant_access_token_lifespan",
  "implicit_grant_access_token_lifespan",
  "implicit_grant_id_token_lifespan",
  "jwt_bearer_grant_access_token_lifespan",
  "refresh_token_grant_id_token_lifespan",
  "refresh_token_grant_access_token_lifespan",
  "refresh_token_grant_refresh_token_lifespan",
  "device_authorization_grant_id_token_lifespan",
  "device_authorization_grant_access_token_lifespan",
  "device_authorization_grant_refresh_token_lifespan",
] as const;

/** One of Hydra's lifespan field names. */
export type LifespanField = (typeof LIFESPAN_FIELDS)[number];

/** Grant types a client may be registered for (Hydra's documented set). */
export const CLIENT_GRANT_TYPES = [
  "authorization_code",
  "refresh_token",
  "client_credentials",
  "implicit",
  "urn:ietf:params:oauth:grant-type:device_code",
  "urn:ietf:params:oauth:grant-type:jwt-bearer",
] as const;

/** Hydra's default client scope (`DefaultClientScope`: offline_access, offline, openid), used when `scope` is empty. */
export const DEFAULT_CLIENT_SCOPE = "offline_access offline openid";
