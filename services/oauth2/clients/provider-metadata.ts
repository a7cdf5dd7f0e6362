/**
 * A stored Hydra client as oidc-provider client metadata.
 *
 * Standard members map to the names oidc-provider recognises (lib/consts/client_attributes.js). Hydra-only
 * members travel as extra metadata properties (`EXTRA_CLIENT_PROPERTIES`, to be declared in
 * `extraClientMetadata.properties`); oidc-provider copies those onto the Client instance under the same
 * snake_case name (`client.skip_consent`, `client.lifespans`, ...).
 *
 * The mapping only ever narrows what a client can do, so a client Hydra accepts never makes oidc-provider
 * refuse it (which would lock the client out entirely) and never gains a capability:
 * - `client_secret` stays the stored hash (the provider's `compareClientSecret` is patched to verify it),
 *   and is only passed for the two secret-based auth methods.
 * - response types whose grant the client lacks are dropped (`code` needs authorization_code, `token` and
 *   `id_token` need implicit); oidc-provider would otherwise add the grant. With no redirect URI no
 *   response type survives (the client can still use its other grants).
 * - `application_type` is `web` when every redirect URI is http(s), `native` otherwise (custom schemes);
 *   URIs oidc-provider refuses for that type are dropped (for native: http on a non-loopback host, https on
 *   a loopback host). For web clients with an http or localhost redirect URI the implicit response types are
 *   dropped, because oidc-provider forbids implicit for them.
 * - pairwise clients lose the device_code grant unless they use private_key_jwt with a `jwks_uri`
 *   (oidc-provider's rule for pairwise device-flow clients).
 * - `options.grantTypes` / `options.responseTypes` (the provider's enabled sets) drop what the provider does
 *   not support, e.g. the jwt-bearer grant when no handler for it is registered.
 * - Members oidc-provider would reject and that carry no behaviour are left out: empty strings, `contacts`
 *   (it insists on e-mail addresses), `userinfo_signed_response_alg: "none"`, `request_uris`, timestamps,
 *   `rotated_secrets` and `client_secret_expires_at`.
 *
 * Hydra's free-form `metadata` is not passed on: the provider does not need it, and oidc-provider assigns
 * extra properties onto the Client instance, where `metadata` would shadow the method `Client#metadata()`.
 */
import type { HydraClient } from "./hydra-client.js";

/** Hydra-only members carried as oidc-provider extra client metadata (declare them in `extraClientMetadata.properties`). */
export const EXTRA_CLIENT_PROPERTIES: readonly string[] = [
  "audience",
  "skip_consent",
  "skip_logout_consent",
  "access_token_strategy",
  "allowed_cors_origins",
  "owner",
  "frontchannel_logout_uri",
  "frontchannel_logout_session_required",
  "lifespans",
];

/** What the provider supports; values outside these sets are dropped from the metadata. */
export interface ProviderMetadataOptions {
  /** Grant types the provider has enabled (its `grantTypes`); default: no filtering. */
  readonly grantTypes?: Iterable<string>;
  /** Response types the provider has enabled (its `responseTypes` option); default: no filtering. */
  readonly responseTypes?: Iterable<string>;
}

const LOOPBACKS = new Set(["localhost", "127.0.0.1", "[::1]"]);

const normaliseResponseType = (type: string): string => [...new Set(type.split(" ").filter((t) => t !== ""))].sort().join(" ");

function parse(uri: string): URL | undefined {
  try {
    return new URL(uri);
  } catch {
    return undefined;
  }
}

const isWeb = (u: URL): boolean => u.protocol === "https:" || u.protocol === "http:";

/** The oidc-provider metadata of a stored client. */
export function toProviderMetadata(client: HydraClient, options: ProviderMetadataOptions = {}): Record<string, unknown> {
  const supportedGrants = options.grantTypes === undefined ? undefined : new Set(options.grantTypes);
  const supportedResponseTypes = options.responseTypes === undefined ? undefined : new Set([...options.responseTypes].map(normaliseResponseType));

  // Redirect URIs and the application type they imply.
  const parsed = client.redirect_uris.map((uri) => ({ uri, url: parse(uri) })).filter((r): r is { uri: string; url: URL } => r.url !== undefined && !r.uri.includes("#"));
  const native = parsed.some((r) => !isWeb(r.url));
  const nativeAllowed = (u: URL): boolean => (u.protocol === "http:" ? LOOPBACKS.has(u.hostname) : u.protocol === "https:" ? !LOOPBACKS.has(u.hostname) : true);
  const redirectUris = parsed.filter((r) => (native ? nativeAllowed(r.url) : isWeb(r.url))).map((r) => r.uri);
  const postLogoutRedirectUris = client.post_logout_redirect_uris.filter((uri) => {
    const u = parse(uri);
    return u !== undefined && !uri.includes("#") && (native ? nativeAllowed(u) : isWeb(u));
  });

  // Grants, then the response types those grants (and the redirect URIs) allow.
  let grantTypes = [...new Set(client.grant_types.length > 0 ? client.grant_types : ["authorization_code"])];
  if (supportedGrants !== undefined) grantTypes = grantTypes.filter((g) => supportedGrants.has(g));
  // oidc-provider insists that pairwise device-flow clients use private_key_jwt with a jwks_uri.
  if (client.subject_type === "pairwise" && (client.token_endpoint_auth_method !== "private_key_jwt" || !client.jwks_uri)) {
    grantTypes = grantTypes.filter((g) => g !== "urn:ietf:params:oauth:grant-type:device_code");
  }
  const implicitForbidden = !native && redirectUris.some((uri) => {
    const u = parse(uri) as URL;
    return u.protocol === "http:" || u.hostname === "localhost";
  });
  const responseTypes = redirectUris.length === 0
    ? []
    : [...new Set(client.response_types.map(normaliseResponseType))].filter((type) => {
        if (type === "none") return grantTypes.includes("authorization_code");
        const tokens = type.split(" ");
        if (tokens.includes("code") && !grantTypes.includes("authorization_code")) return false;
        if ((tokens.includes("token") || tokens.includes("id_token")) && (!grantTypes.includes("implicit") || implicitForbidden)) return false;
        return supportedResponseTypes === undefined || supportedResponseTypes.has(type);
      });
  // oidc-provider removes these grants itself when no response type uses them; do it here so the metadata
  // reads as what the client can actually do.
  if (!responseTypes.some((t) => t.split(" ").includes("code"))) grantTypes = grantTypes.filter((g) => g !== "authorization_code");
  if (!responseTypes.some((t) => t.split(" ").some((x) => x === "token" || x === "id_token"))) grantTypes = grantTypes.filter((g) => g !== "implicit");

  const method = client.token_endpoint_auth_method;
  const metadata: Record<string, unknown> = {
    client_id: client.client_id,
    application_type: native ? "native" : "web",
    grant_types: grantTypes,
    response_types: responseTypes,
    redirect_uris: redirectUris,
    token_endpoint_auth_method: method,
    subject_type: client.subject_type,
    scope: client.scope,
  };
  if ((method === "client_secret_basic" || method === "client_secret_post") && client.client_secret) metadata["client_secret"] = client.client_secret;
  if (postLogoutRedirectUris.length > 0) metadata["post_logout_redirect_uris"] = postLogoutRedirectUris;
  if (client.client_name) metadata["client_name"] = client.client_name;
  for (const field of ["client_uri", "logo_uri", "policy_uri", "tos_uri"] as const) {
    const value = client[field];
    const u = value ? parse(value) : undefined;
    if (u !== undefined && isWeb(u)) metadata[field] = value;
  }
  if (client.jwks !== undefined && client.jwks.keys.length > 0) metadata["jwks"] = { keys: client.jwks.keys.map((k) => ({ ...k })) };
  else if (client.jwks_uri) metadata["jwks_uri"] = client.jwks_uri;
  if (method === "private_key_jwt" && client.token_endpoint_auth_signing_alg) metadata["token_endpoint_auth_signing_alg"] = client.token_endpoint_auth_signing_alg;
  if (client.sector_identifier_uri) metadata["sector_identifier_uri"] = client.sector_identifier_uri;
  if (client.userinfo_signed_response_alg && client.userinfo_signed_response_alg !== "none") metadata["userinfo_signed_response_alg"] = client.userinfo_signed_response_alg;
  if (client.request_object_signing_alg) metadata["request_object_signing_alg"] = client.request_object_signing_alg;
  if (client.backchannel_logout_uri) {
    metadata["backchannel_logout_uri"] = client.backchannel_logout_uri;
    metadata["backchannel_logout_session_required"] = client.backchannel_logout_session_required === true;
  }

  // Hydra-only members.
  metadata["audience"] = [...client.audience];
  metadata["skip_consent"] = client.skip_consent;
  metadata["skip_logout_consent"] = client.skip_logout_consent === true;
  if (client.access_token_strategy) metadata["access_token_strategy"] = client.access_token_strategy;
  metadata["allowed_cors_origins"] = [...client.allowed_cors_origins];
  metadata["owner"] = client.owner;
  if (client.frontchannel_logout_uri) {
    metadata["frontchannel_logout_uri"] = client.frontchannel_logout_uri;
    metadata["frontchannel_logout_session_required"] = client.frontchannel_logout_session_required === true;
  }
  metadata["lifespans"] = { ...(client.lifespans ?? {}) };
  return metadata;
}
