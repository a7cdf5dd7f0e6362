/**
 * Hydra's create and update semantics for OAuth2 clients (`POST`/`PUT`/`PATCH /admin/clients`), and the JSON
 * answer (`oAuth2Client`).
 *
 * Decoding follows Hydra's Go decoder: unknown members are ignored, `null` is the same as absent, and a
 * member of the wrong JSON type is a 400 `invalid_request` ("Unable to decode the request body: ...").
 * Semantic checks answer 400 `invalid_client_metadata` (redirect URIs: `invalid_redirect_uri`) with Hydra's
 * base description followed by a hint that names the field, using Hydra's own hint texts where it has them.
 *
 * Secrets: `parseClientBody` is synchronous and never hashes. When a new secret comes out of it (given in
 * the body, or generated because the auth method needs one and there is none), it is returned as
 * `plainSecret` and `client.client_secret` is `""` until the caller stores the hash there (`prepareClient`
 * does both). A new secret clears `rotated_secrets`; no new secret keeps the existing hash and rotations.
 *
 * Deliberate differences from Hydra, all stricter or equivalent:
 * - grant types must come from Hydra's documented set; response types from `code`, `token`, `id_token`
 *   (combinations) or `none`. Response types whose grant the client lacks are accepted, as Hydra does (its
 *   CLI sends `response_types: ["code"]` for client_credentials clients); `toProviderMetadata` drops them.
 * - `grant_types` and `response_types` carry their defaults explicitly (Hydra applies the same defaults when
 *   reading: `authorization_code`, `code`) and `response_types` defaults to `[]` for clients without the
 *   authorization_code grant.
 * - `client_secret_jwt` is refused at registration (Hydra refuses it at authentication).
 * - URIs that oidc-provider would reject (`logo_uri` that is not an http(s) URL, ...) are refused here, so
 *   a client that registers is a client the provider accepts.
 * - `sector_identifier_uri` must be https, but its contents are not fetched here.
 * - A secret sent for a `none` client is dropped (Hydra stores it and never shows or uses it).
 */
import { randomUUID } from "node:crypto";
import { invalidRequest, OAuth2HttpError } from "../api/http-io.js";
import { generateClientSecret } from "./client-secrets.js";
import {
  CLIENT_GRANT_TYPES,
  DEFAULT_CLIENT_SCOPE,
  LIFESPAN_FIELDS,
  type HydraClient,
  type LifespanField,
  type TokenEndpointAuthMethod,
} from "./hydra-client.js";

/** How `parseClientBody` treats a body. */
export interface ParseClientMode {
  /** True for POST (a new client); false for PUT/PATCH, which need `existing`. */
  readonly creating: boolean;
  /** The stored client being replaced (its id, secret hash, rotations and created_at carry over). */
  readonly existing?: HydraClient;
  /** The time stamped on the client; default now. */
  readonly now?: Date;
  /** Subject types the server supports (Hydra's `SubjectTypesSupported`); default public and pairwise. */
  readonly subjectTypesSupported?: readonly string[];
  /** Scope of a client registered without one; default Hydra's "offline_access offline openid". */
  readonly defaultScope?: string;
}

/** The parsed client and, when one was set or generated, the plain secret to hash and echo once. */
export interface ParsedClient {
  client: HydraClient;
  plainSecret?: string;
}

const METADATA_DESCRIPTION =
  "The value of one of the Client Metadata fields is invalid and the server has rejected this request. Note that an Authorization Server MAY choose to substitute a valid value for any requested parameter of a Client's Metadata.";
const REDIRECT_DESCRIPTION = "The value of one or more redirect_uris is invalid.";

/** Hydra's `ErrInvalidClientMetadata` with a hint. */
export const invalidClientMetadata = (hint: string): OAuth2HttpError => new OAuth2HttpError(400, "invalid_client_metadata", `${METADATA_DESCRIPTION} ${hint}`);
/** Hydra's `ErrInvalidRedirectURI` with a hint. */
export const invalidRedirectUri = (hint: string): OAuth2HttpError => new OAuth2HttpError(400, "invalid_redirect_uri", `${REDIRECT_DESCRIPTION} ${hint}`);
const malformed = (field: string, expected: string): OAuth2HttpError =>
  invalidRequest(`Unable to decode the request body: field ${field} must be ${expected}.`);

const AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
/** Hydra's `supportedAuthTokenSigningAlgs` for private_key_jwt. */
const AUTH_SIGNING_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];
const REQUEST_OBJECT_ALGS = new Set(["none", ...AUTH_SIGNING_ALGS, "EdDSA", "Ed25519"]);
const RESPONSE_TYPE_TOKENS = new Set(["code", "token", "id_token"]);
/** RFC 6749 §3.3 scope-token characters. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** RFC 6749 VSCHAR (what oidc-provider accepts in a client_id). */
const VSCHAR = /^[\x20-\x7E]+$/;
const FORBIDDEN_REDIRECT_SCHEMES = new Set(["javascript:", "vbscript:", "data:", "blob:", "file:", "about:"]);
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];
/** Hydra keeps at most this many rotated secrets. */
export const MAX_ROTATED_SECRETS = 5;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Typed reads of body members; `null` and absent are both undefined. */
function reader(body: Record<string, unknown>) {
  const raw = (field: string): unknown => (Object.hasOwn(body, field) ? body[field] : undefined);
  return {
    str(field: string): string | undefined {
      const v = raw(field);
      if (v === undefined || v === null) return undefined;
      if (typeof v !== "string") throw malformed(field, "a string");
      return v;
    },
    strings(field: string): string[] | undefined {
      const v = raw(field);
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v) || !v.every((item) => typeof item === "string")) throw malformed(field, "an array of strings");
      return [...(v as string[])];
    },
    bool(field: string): boolean | undefined {
      const v = raw(field);
      if (v === undefined || v === null) return undefined;
      if (typeof v !== "boolean") throw malformed(field, "a boolean");
      return v;
    },
    object(field: string): Record<string, unknown> | undefined {
      const v = raw(field);
      if (v === undefined || v === null) return undefined;
      if (!isObject(v)) throw malformed(field, "a JSON object");
      return v;
    },
  };
}

const dedupe = (values: readonly string[]): string[] => [...new Set(values)];

/** An absolute URL, or undefined. */
function parseAbsolute(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** An http(s) URL field (`client_uri`, `jwks_uri`, ...); "" = unset. */
function httpUrl(field: string, value: string | undefined, httpsOnly = false): string {
  if (value === undefined || value === "") return "";
  const u = parseAbsolute(value);
  if (u === undefined) throw invalidClientMetadata(`Field ${field} must be a valid URI.`);
  if (httpsOnly ? u.protocol !== "https:" : u.protocol !== "https:" && u.protocol !== "http:") {
    throw invalidClientMetadata(`${field} ${value} must use ${httpsOnly ? "https://" : "https:// or http://"} as HTTP scheme.`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// Go durations (Hydra's lifespans are `time.Duration`s: "1h0m0s" in answers, anything ParseDuration takes
// in requests).

const NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  "\u00b5s": 1_000n,
  "\u03bcs": 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX_DURATION = (1n << 63n) - 1n;

/** Parses a Go duration ("1h30m", "1.5s", "300ms") into nanoseconds; undefined when it is not one. */
export function parseGoDuration(text: string): bigint | undefined {
  let rest = text;
  let sign = 1n;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1n : 1n;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0n;
  if (rest === "") return undefined;
  let total = 0n;
  const segment = /^(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/;
  while (rest !== "") {
    const m = segment.exec(rest);
    if (m === null) return undefined;
    const whole = m[1] ?? "";
    const frac = m[2] ?? "";
    if (whole === "" && frac === "") return undefined;
    const unit = NS[m[3] ?? ""] as bigint;
    let value = BigInt(whole === "" ? "0" : whole) * unit;
    if (frac !== "") value += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    total += value;
    if (total > MAX_DURATION) return undefined;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

const fraction = (value: bigint, unit: bigint): string => {
  const whole = value / unit;
  const rem = value % unit;
  if (rem === 0n) return whole.toString();
  const digits = unit.toString().length - 1;
  return `${whole}.${rem.toString().padStart(digits, "0").replace(/0+$/, "")}`;
};

/** Formats nanoseconds as Go's `Duration.String()` does ("1h0m0s", "1.5s", "300ms", "0s"). */
export function formatGoDuration(ns: bigint): string {
  if (ns === 0n) return "0s";
  const neg = ns < 0n;
  const u = neg ? -ns : ns;
  let out: string;
  if (u < 1_000n) out = `${u}ns`;
  else if (u < 1_000_000n) out = `${fraction(u, 1_000n)}\u00b5s`;
  else if (u < 1_000_000_000n) out = `${fraction(u, 1_000_000n)}ms`;
  else {
    const h = u / 3_600_000_000_000n;
    const m = (u % 3_600_000_000_000n) / 60_000_000_000n;
    const s = fraction(u % 60_000_000_000n, 1_000_000_000n);
    out = h > 0n ? `${h}h${m}m${s}s` : m > 0n ? `${m}m${s}s` : `${s}s`;
  }
  return neg ? `-${out}` : out;
}

/**
 * Reads Hydra's `*_lifespan` members of a body: strings in Go duration syntax, `null` = the default. Only
 * present members count; the result holds them normalised ("1h" becomes "1h0m0s"), undefined when none.
 */
export function parseLifespans(body: Record<string, unknown>): Partial<Record<LifespanField, string>> | undefined {
  const r = reader(body);
  const out: Partial<Record<LifespanField, string>> = {};
  let any = false;
  for (const field of LIFESPAN_FIELDS) {
    const value = r.str(field);
    if (value === undefined) continue;
    const ns = parseGoDuration(value);
    if (ns === undefined) throw invalidClientMetadata(`Field ${field} must be a duration such as "1h", "30m" or "1h30m0s", got "${value}".`);
    if (ns < 0n) throw invalidClientMetadata(`Field ${field} must not be negative.`);
    out[field] = formatGoDuration(ns);
    any = true;
  }
  return any ? out : undefined;
}

// ---------------------------------------------------------------------------------------------------------

function parseAuthMethod(value: string | undefined): TokenEndpointAuthMethod {
  if (value === undefined || value === "") return "client_secret_basic";
  if (value === "client_secret_jwt") {
    throw invalidClientMetadata("This authorization server does not support client authentication method 'client_secret_jwt'.");
  }
  if (!(AUTH_METHODS as readonly string[]).includes(value)) {
    throw invalidClientMetadata(`Field token_endpoint_auth_method must be one of ${AUTH_METHODS.join(", ")}, got "${value}".`);
  }
  return value as TokenEndpointAuthMethod;
}

function parseJwks(value: Record<string, unknown> | undefined): { keys: Record<string, unknown>[] } | undefined {
  if (value === undefined) return undefined;
  const keys = value["keys"];
  if (keys === undefined || keys === null) return undefined;
  if (!Array.isArray(keys)) throw malformed("jwks.keys", "an array of JSON Web Keys");
  if (keys.length === 0) return undefined;
  keys.forEach((key, i) => {
    if (!isObject(key) || typeof key["kty"] !== "string" || key["kty"] === "") throw invalidClientMetadata(`Invalid JSON web key in set: jwks.keys[${i}] has no "kty".`);
    for (const member of PRIVATE_JWK_MEMBERS) {
      if (Object.hasOwn(key, member)) throw invalidClientMetadata(`Invalid JSON web key in set: jwks.keys[${i}] contains private key material ("${member}"); register public keys only.`);
    }
  });
  return { keys: (keys as Record<string, unknown>[]).map((k) => ({ ...k })) };
}

function parseGrantTypes(values: string[] | undefined): string[] {
  if (values === undefined || values.length === 0) return ["authorization_code"];
  for (const g of values) {
    if (!(CLIENT_GRANT_TYPES as readonly string[]).includes(g)) {
      throw invalidClientMetadata(`Field grant_types contains "${g}", which is not supported; use ${CLIENT_GRANT_TYPES.join(", ")}.`);
    }
  }
  return dedupe(values);
}

function parseResponseTypes(values: string[] | undefined, grantTypes: readonly string[]): string[] {
  if (values === undefined || values.length === 0) return grantTypes.includes("authorization_code") ? ["code"] : [];
  const out = values.map((value) => {
    const tokens = value.split(" ").filter((t) => t !== "");
    if (tokens.length === 1 && tokens[0] === "none") return "none";
    if (tokens.length === 0 || !tokens.every((t) => RESPONSE_TYPE_TOKENS.has(t)) || new Set(tokens).size !== tokens.length) {
      throw invalidClientMetadata(`Field response_types contains "${value}"; a response type is "none" or a combination of code, token and id_token.`);
    }
    return tokens.join(" ");
  });
  return dedupe(out);
}

function parseScope(value: string | undefined, defaultScope: string): string {
  const tokens = (value ?? "").split(/\s+/).filter((t) => t !== "");
  if (tokens.length === 0) return defaultScope;
  for (const t of tokens) {
    if (!SCOPE_TOKEN.test(t)) throw invalidClientMetadata(`Field scope contains "${t}", which is not a valid scope token (RFC 6749 section 3.3).`);
  }
  return dedupe(tokens).join(" ");
}

function parseRedirectUris(values: string[]): string[] {
  for (const r of values) {
    if (r.includes("#")) throw invalidRedirectUri("Redirect URIs must not contain fragments (#).");
    const u = parseAbsolute(r);
    if (u === undefined) throw invalidRedirectUri(`Unable to parse redirect URL: ${r}`);
    if (FORBIDDEN_REDIRECT_SCHEMES.has(u.protocol)) throw invalidRedirectUri(`Redirect URL ${r} uses the ${u.protocol.slice(0, -1)} scheme, which is not allowed.`);
  }
  return dedupe(values);
}

function parsePostLogoutRedirectUris(values: string[], redirectUris: readonly string[]): string[] {
  const redirs = redirectUris.map((r) => parseAbsolute(r)).filter((u): u is URL => u !== undefined);
  for (const l of values) {
    const u = parseAbsolute(l);
    if (u === undefined || l.includes("#")) throw invalidClientMetadata(`Unable to parse post_logout_redirect_uri: ${l}`);
    if (!redirs.some((r) => r.protocol === u.protocol && r.hostname === u.hostname && r.port === u.port)) {
      throw invalidClientMetadata(`post_logout_redirect_uri "${l}" must match the domain, port, scheme of at least one of the registered redirect URIs but did not`);
    }
  }
  return dedupe(values);
}

function parseCorsOrigins(values: string[]): string[] {
  return dedupe(
    values.map((origin) => {
      const u = parseAbsolute(origin);
      if (u === undefined) throw invalidClientMetadata(`Origin URL ${origin} from allowed_cors_origins could not be parsed.`);
      if (u.protocol !== "https:" && u.protocol !== "http:") throw invalidClientMetadata(`Origin URL ${origin} must use https:// or http:// as HTTP scheme.`);
      if (u.username !== "" || u.password !== "") throw invalidClientMetadata(`Origin URL ${origin} has HTTP user and/or password set which is not allowed.`);
      if (u.pathname.replace(/\/+$/, "") !== "" || u.search !== "" || u.hash !== "" || origin.endsWith("?") || origin.endsWith("#")) {
        throw invalidClientMetadata(`Origin URL ${origin} must have an empty path, query, and fragment but one of the parts is not empty.`);
      }
      return `${u.protocol}//${u.host}`;
    }),
  );
}

function parseAudience(values: string[]): string[] {
  for (const a of values) {
    if (a === "" || /\s/.test(a)) throw invalidClientMetadata(`Field audience contains "${a}"; audiences must be non-empty and must not contain whitespace.`);
  }
  return dedupe(values);
}

function parseClientId(value: string): string {
  if (value.length > 255 || !VSCHAR.test(value)) {
    throw invalidClientMetadata("Field client_id must be 1 to 255 printable ASCII characters.");
  }
  return value;
}

/** Rounds to the second as Hydra does and formats as Go marshals `time.Time` (RFC 3339, "Z"). */
export function hydraTimestamp(date: Date): string {
  return new Date(Math.round(date.getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/**
 * Parses a create (`creating: true`) or full-replacement (`creating: false` with `existing`) body into a
 * client, applying Hydra's defaults and checks. Throws `OAuth2HttpError` (400) naming the offending field.
 */
export function parseClientBody(body: unknown, mode: ParseClientMode): ParsedClient {
  if (!isObject(body)) throw invalidRequest("The request body must be a JSON object.");
  const existing = mode.creating ? undefined : mode.existing;
  if (!mode.creating && existing === undefined) throw new TypeError("parseClientBody: an update needs the existing client");
  const r = reader(body);
  const now = hydraTimestamp(mode.now ?? new Date());

  // Identity.
  let clientId: string;
  if (existing !== undefined) clientId = existing.client_id;
  else {
    const given = r.str("client_id");
    clientId = given === undefined || given === "" ? randomUUID() : parseClientId(given);
  }

  // Authentication (Hydra's validator order: private_key_jwt keys, jwks xor jwks_uri, secret length).
  const method = parseAuthMethod(r.str("token_endpoint_auth_method"));
  const jwks = parseJwks(r.object("jwks"));
  const jwksUri = httpUrl("jwks_uri", r.str("jwks_uri"));
  const signingAlg = r.str("token_endpoint_auth_signing_alg") ?? "";
  if (method === "private_key_jwt") {
    if (jwks === undefined && jwksUri === "") throw invalidClientMetadata("When token_endpoint_auth_method is 'private_key_jwt', either jwks or jwks_uri must be set.");
    if (signingAlg !== "" && !AUTH_SIGNING_ALGS.includes(signingAlg)) {
      throw invalidClientMetadata("Only RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 and ES512 are supported as algorithms for private key authentication.");
    }
  }
  if (jwks !== undefined && jwksUri !== "") throw invalidClientMetadata("Fields jwks and jwks_uri can not both be set, you must choose one.");
  const givenSecret = r.str("client_secret");
  if (givenSecret !== undefined && givenSecret !== "" && givenSecret.length < 6) {
    throw invalidClientMetadata("Field client_secret must contain a secret that is at least 6 characters long.");
  }

  // Grants and URIs.
  const grantTypes = parseGrantTypes(r.strings("grant_types"));
  const responseTypes = parseResponseTypes(r.strings("response_types"), grantTypes);
  const redirectUris = parseRedirectUris(r.strings("redirect_uris") ?? []);
  const postLogoutRedirectUris = parsePostLogoutRedirectUris(r.strings("post_logout_redirect_uris") ?? [], redirectUris);
  const scope = parseScope(r.str("scope"), mode.defaultScope ?? DEFAULT_CLIENT_SCOPE);
  const audience = parseAudience(r.strings("audience") ?? []);
  const allowedCorsOrigins = parseCorsOrigins(r.strings("allowed_cors_origins") ?? []);

  const subjectTypes = mode.subjectTypesSupported ?? ["public", "pairwise"];
  const subjectTypeGiven = r.str("subject_type") ?? "";
  if (subjectTypeGiven !== "" && !subjectTypes.includes(subjectTypeGiven)) {
    throw invalidClientMetadata(`Subject type ${subjectTypeGiven} is not supported by server, only [${subjectTypes.join(" ")}] are allowed.`);
  }
  const subjectType = (subjectTypeGiven !== "" ? subjectTypeGiven : subjectTypes.includes("public") ? "public" : (subjectTypes[0] ?? "public")) as HydraClient["subject_type"];
  const sectorIdentifierUri = r.str("sector_identifier_uri") ?? "";
  if (sectorIdentifierUri !== "") {
    const u = parseAbsolute(sectorIdentifierUri);
    if (u === undefined) throw invalidClientMetadata(`Value of sector_identifier_uri could not be parsed.`);
    if (u.protocol !== "https:") throw invalidClientMetadata("Value sector_identifier_uri must be an HTTPS URL but it is not.");
  }

  if (subjectType === "pairwise" && sectorIdentifierUri === "" && new Set(redirectUris.map((u) => parseAbsolute(u)?.host)).size > 1) {
    throw invalidClientMetadata("Field sector_identifier_uri must be set for a pairwise client whose redirect_uris use more than one host (OpenID Connect Core 1.0, section 8.1).");
  }

  const userinfoAlg = r.str("userinfo_signed_response_alg") || "none";
  if (userinfoAlg !== "none" && userinfoAlg !== "RS256") throw invalidClientMetadata("Field userinfo_signed_response_alg can either be 'none' or 'RS256'.");
  const requestObjectAlg = r.str("request_object_signing_alg") ?? "";
  if (requestObjectAlg !== "" && !REQUEST_OBJECT_ALGS.has(requestObjectAlg)) {
    throw invalidClientMetadata(`Field request_object_signing_alg must be one of ${[...REQUEST_OBJECT_ALGS].join(", ")}.`);
  }
  const requestUris = (r.strings("request_uris") ?? []).map((u, i) => httpUrl(`request_uris[${i}]`, u, true));

  const accessTokenStrategy = (r.str("access_token_strategy") ?? "").toLowerCase();
  if (accessTokenStrategy !== "" && accessTokenStrategy !== "opaque" && accessTokenStrategy !== "jwt") {
    throw invalidClientMetadata(`Field access_token_strategy must be 'opaque' or 'jwt', got "${r.str("access_token_strategy") ?? ""}".`);
  }

  const metadata = r.object("metadata") ?? {};
  const lifespans = parseLifespans(body);

  const client: HydraClient = {
    client_id: clientId,
    client_name: r.str("client_name") ?? "",
    client_secret: "",
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutRedirectUris,
    grant_types: grantTypes,
    response_types: responseTypes,
    scope,
    audience,
    token_endpoint_auth_method: method,
    subject_type: subjectType,
    userinfo_signed_response_alg: userinfoAlg,
    allowed_cors_origins: allowedCorsOrigins,
    skip_consent: r.bool("skip_consent") ?? false,
    metadata: { ...metadata },
    owner: r.str("owner") ?? "",
    contacts: dedupe(r.strings("contacts") ?? []),
    client_uri: httpUrl("client_uri", r.str("client_uri")),
    logo_uri: httpUrl("logo_uri", r.str("logo_uri")),
    policy_uri: httpUrl("policy_uri", r.str("policy_uri")),
    tos_uri: httpUrl("tos_uri", r.str("tos_uri")),
    created_at: existing?.created_at ?? now,
    updated_at: now,
  };
  if (signingAlg !== "") client.token_endpoint_auth_signing_alg = signingAlg;
  if (jwks !== undefined) client.jwks = jwks;
  if (jwksUri !== "") client.jwks_uri = jwksUri;
  if (sectorIdentifierUri !== "") client.sector_identifier_uri = sectorIdentifierUri;
  if (requestObjectAlg !== "") client.request_object_signing_alg = requestObjectAlg;
  if (requestUris.length > 0) client.request_uris = requestUris;
  const frontchannel = httpUrl("frontchannel_logout_uri", r.str("frontchannel_logout_uri"));
  if (frontchannel !== "") client.frontchannel_logout_uri = frontchannel;
  if (r.bool("frontchannel_logout_session_required") === true) client.frontchannel_logout_session_required = true;
  const backchannel = httpUrl("backchannel_logout_uri", r.str("backchannel_logout_uri"));
  if (backchannel !== "") client.backchannel_logout_uri = backchannel;
  if (r.bool("backchannel_logout_session_required") === true) client.backchannel_logout_session_required = true;
  if (accessTokenStrategy !== "") client.access_token_strategy = accessTokenStrategy as "opaque" | "jwt";
  const skipLogoutConsent = r.bool("skip_logout_consent");
  if (skipLogoutConsent !== undefined) client.skip_logout_consent = skipLogoutConsent;
  if (lifespans !== undefined) client.lifespans = lifespans;

  // The secret.
  const result: ParsedClient = { client };
  if (method === "none") {
    // Public clients have no secret (Hydra never shows or checks one).
  } else if (givenSecret !== undefined && givenSecret !== "") {
    result.plainSecret = givenSecret;
  } else if (existing !== undefined && (existing.client_secret ?? "") !== "") {
    client.client_secret = existing.client_secret as string;
    if (existing.rotated_secrets !== undefined && existing.rotated_secrets.length > 0) client.rotated_secrets = [...existing.rotated_secrets];
  } else if (method === "client_secret_basic" || method === "client_secret_post") {
    result.plainSecret = generateClientSecret();
  }
  return result;
}

/** `parseClientBody`, then the new secret (if any) hashed into `client.client_secret`. */
export async function prepareClient(body: unknown, mode: ParseClientMode, hashSecret: (secret: string) => Promise<string>): Promise<ParsedClient> {
  const parsed = parseClientBody(body, mode);
  if (parsed.plainSecret !== undefined) parsed.client.client_secret = await hashSecret(parsed.plainSecret);
  return parsed;
}

/**
 * The client as Hydra's admin API answers it (`oAuth2Client`): never `client_secret` (the caller adds the
 * plain secret to a create, rotate or secret-changing update answer), never `rotated_secrets`, lifespans
 * flattened to the `*_lifespan` members (`null` = the server default), and Hydra's `omitempty` members
 * left out when empty.
 */
export function publicClientJson(client: HydraClient): Record<string, unknown> {
  const out: Record<string, unknown> = {
    client_id: client.client_id,
    client_name: client.client_name,
    redirect_uris: [...client.redirect_uris],
    grant_types: [...client.grant_types],
    response_types: [...client.response_types],
    scope: client.scope,
    audience: [...client.audience],
    owner: client.owner,
    policy_uri: client.policy_uri,
    allowed_cors_origins: [...client.allowed_cors_origins],
    tos_uri: client.tos_uri,
    client_uri: client.client_uri,
    logo_uri: client.logo_uri,
    contacts: [...client.contacts],
    client_secret_expires_at: 0,
    subject_type: client.subject_type,
  };
  if (client.sector_identifier_uri) out["sector_identifier_uri"] = client.sector_identifier_uri;
  out["jwks"] = client.jwks === undefined ? {} : { keys: client.jwks.keys.map((k) => ({ ...k })) };
  if (client.jwks_uri) out["jwks_uri"] = client.jwks_uri;
  out["token_endpoint_auth_method"] = client.token_endpoint_auth_method;
  if (client.token_endpoint_auth_signing_alg) out["token_endpoint_auth_signing_alg"] = client.token_endpoint_auth_signing_alg;
  if (client.request_uris !== undefined && client.request_uris.length > 0) out["request_uris"] = [...client.request_uris];
  if (client.request_object_signing_alg) out["request_object_signing_alg"] = client.request_object_signing_alg;
  out["userinfo_signed_response_alg"] = client.userinfo_signed_response_alg || "none";
  out["created_at"] = client.created_at;
  out["updated_at"] = client.updated_at;
  if (client.frontchannel_logout_uri) out["frontchannel_logout_uri"] = client.frontchannel_logout_uri;
  if (client.frontchannel_logout_session_required === true) out["frontchannel_logout_session_required"] = true;
  if (client.post_logout_redirect_uris.length > 0) out["post_logout_redirect_uris"] = [...client.post_logout_redirect_uris];
  if (client.backchannel_logout_uri) out["backchannel_logout_uri"] = client.backchannel_logout_uri;
  if (client.backchannel_logout_session_required === true) out["backchannel_logout_session_required"] = true;
  out["metadata"] = structuredClone(client.metadata);
  if (client.access_token_strategy) out["access_token_strategy"] = client.access_token_strategy;
  out["skip_consent"] = client.skip_consent;
  out["skip_logout_consent"] = client.skip_logout_consent ?? null;
  for (const field of LIFESPAN_FIELDS) out[field] = client.lifespans?.[field] ?? null;
  return out;
}
