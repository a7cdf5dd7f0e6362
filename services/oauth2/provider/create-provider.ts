/**
 * Builds the oidc-provider instance behind the public plane, configured the way Hydra behaves:
 *
 * - Hydra's paths (`/oauth2/auth`, `/oauth2/token`, `/oauth2/revoke`, `/oauth2/sessions/logout`, `/userinfo`,
 *   `/.well-known/jwks.json`, `/oauth2/device/*`), plus `/oauth2/introspect` (RFC 7662 with client
 *   authentication), which discovery advertises and Hydra's does not.
 * - Login and consent are delegated: the provider's interactions redirect to the login and consent apps with
 *   a `login_challenge` / `consent_challenge` (see `challenges.ts`), resolved through the admin API.
 * - Opaque tokens are `<prefix>_{at,rt,ac,dc}_<random>.<mac>` and stored by hash (`adapter.ts`); refresh tokens
 *   rotate on every use, and a spent one revokes its grant.
 * - Client secrets are stored hashed; PKCE is S256 only and required for public clients (optionally for all).
 * - Any scope a client is registered for may be requested and lands on the token (`open-scopes.ts`).
 *
 * A few provider internals are replaced on the instance (token id minting, client secret comparison, ID token
 * extra claims): the provider has no option for them, and each replacement keeps the original contract.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { LRUCache } from "lru-cache";
import { Provider, errors, interactionPolicy, type Configuration, type KoaContextWithOIDC, type JWKS } from "oidc-provider";
import type { OAuth2Store } from "../store/oauth2-store.js";
import type { HydraClient } from "../clients/hydra-client.js";
import type { JwtAccessTokenCodec } from "../keys/jwt-access-tokens.js";
import { createAdapterFactory, createStorageIdMarkers, type OpaqueTokenCodec, type OpaqueTokenKind } from "./adapter.js";
import type { ChallengeCodec } from "./challenges.js";
import { ADVERTISED_SCOPES, openProviderScopes, type ScopeRegistrar } from "./open-scopes.js";
import { deviceInputPage, deviceConfirmPage, deviceSuccessPage, errorPage, logoutSuccessPage } from "./pages.js";

/** Claims of a subject, for ID tokens and userinfo (`sub` is added by the provider). */
export type AccountClaims = Record<string, unknown>;

/** Looks a subject up (the identity service, or nothing for subjects of another login app). */
export type AccountLookup = (subject: string) => Promise<AccountClaims | undefined>;

/** Token lifespans in seconds. */
export interface TokenLifespans {
  readonly accessToken: number;
  readonly refreshToken: number;
  readonly idToken: number;
  readonly authorizationCode: number;
  readonly deviceCode: number;
  /** How long a login/consent request (interaction) may take (Hydra's `ttl.login_consent_request`: 30 min). */
  readonly loginConsentRequest: number;
  /** How long a remembered login lasts (Hydra's `ttl.authentication_session`: 30 days). */
  readonly authenticationSession: number;
}

/** Hydra's default lifespans. */
export const DEFAULT_LIFESPANS: TokenLifespans = {
  accessToken: 3600,
  refreshToken: 720 * 3600,
  idToken: 3600,
  authorizationCode: 600,
  deviceCode: 600,
  loginConsentRequest: 1800,
  authenticationSession: 720 * 3600,
};

/** Where the provider sends browsers. */
export interface ProviderUrls {
  /** The login app (`urls.login`); gets `?login_challenge=`. */
  readonly login: string;
  /** The consent app (`urls.consent`); gets `?consent_challenge=`. */
  readonly consent: string;
  /** The logout app (`urls.logout`); gets `?logout_challenge=`. */
  readonly logout: string;
}

/** Checks a presented client secret against the stored hash and the rotated ones. */
export type ClientSecretCheck = (presented: string, storedHash: string, rotatedHashes: readonly string[]) => Promise<boolean>;

/** Options of `createProvider`. */
export interface ProviderOptions {
  /** The issuer: the public plane's URL, exactly as clients discover it. */
  readonly issuer: string;
  readonly store: OAuth2Store;
  readonly tokens: OpaqueTokenCodec;
  /** Keys MACing the storage ids handed to the provider for records found by a secondary key (first signs). */
  readonly storageIdKeys: readonly Buffer[];
  /** Signs the access tokens of clients with `access_token_strategy: jwt`. */
  readonly jwtAccessTokens: JwtAccessTokenCodec;
  /** Keys the pairwise subject identifiers (Hydra's pairwise salt); derived from the system secret. */
  readonly pairwiseKey: Buffer;
  readonly challenges: ChallengeCodec;
  readonly toClientMetadata: (client: HydraClient) => Record<string, unknown>;
  readonly extraClientProperties: readonly string[];
  readonly checkClientSecret: ClientSecretCheck;
  /** Private signing keys, newest first per algorithm. */
  readonly jwks: JWKS;
  /** Keys signing the provider's cookies (first signs, all verify). */
  readonly cookieKeys: string[];
  readonly urls: ProviderUrls;
  readonly accounts: AccountLookup;
  readonly lifespans?: TokenLifespans;
  /** Require PKCE from confidential clients too (it is always required from public ones). */
  readonly pkceForAllClients?: boolean;
  /** Trust `X-Forwarded-*` (behind a TLS-terminating proxy). */
  readonly trustProxy?: boolean;
  /**
   * Refuse outgoing requests (back-channel logout, `jwks_uri`, `sector_identifier_uri`) to loopback and
   * private addresses (Hydra's `clients.http.disallow_private_ip_ranges`; default false, as Hydra: client
   * metadata is set by administrators, and back-channel logout URIs are often on the internal network).
   */
  readonly disallowPrivateIpRanges?: boolean;
}

/** Claims a consent accept put on the grant's tokens (Hydra's `session.access_token` / `session.id_token`). */
export interface GrantSessionClaims {
  readonly access_token?: Record<string, unknown>;
  readonly id_token?: Record<string, unknown>;
}

/** The artifact model holding a grant's session claims (revoked with the grant: it carries `grantId`). */
export const GRANT_CLAIMS_MODEL = "GrantSessionClaims";

/** Models whose tokens carry each opaque kind. */
const MINTED: ReadonlyArray<readonly ["AccessToken" | "ClientCredentials" | "RefreshToken" | "AuthorizationCode" | "DeviceCode", OpaqueTokenKind]> = [
  ["AccessToken", "at"],
  ["ClientCredentials", "at"],
  ["RefreshToken", "rt"],
  ["AuthorizationCode", "ac"],
  ["DeviceCode", "dc"],
];

/** Claims each OIDC scope releases. */
const SCOPE_CLAIMS = {
  // The login's acr and amr and the authentication time go with `openid`, as Hydra puts them in every ID token.
  sid: null,
  iss: null,
  openid: ["sub", "acr", "amr", "auth_time"],
  email: ["email", "email_verified"],
  profile: ["name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "picture", "website", "locale", "zoneinfo", "updated_at"],
  phone: ["phone_number", "phone_number_verified"],
};

/** Reads a grant's session claims. */
export async function grantSessionClaims(store: OAuth2Store, grantId: string | undefined): Promise<GrantSessionClaims | undefined> {
  if (grantId === undefined) return undefined;
  const stored = await store.find(GRANT_CLAIMS_MODEL, grantId);
  return stored as GrantSessionClaims | undefined;
}

/** The login-prompt check that makes a login not remembered (Hydra's `remember: false`) ask again. */
function notRememberedCheck(): InstanceType<typeof interactionPolicy.Check> {
  return new interactionPolicy.Check("login_not_remembered", "the previous login was not to be remembered", (ctx: KoaContextWithOIDC) => {
    const { session, result } = ctx.oidc;
    // `transient` is set by `remember: false`; the login that just happened in this request counts.
    const transient = (session as unknown as { transient?: boolean } | undefined)?.transient === true;
    return transient && session?.accountId !== undefined && result?.["login"] === undefined
      ? interactionPolicy.Check.REQUEST_PROMPT
      : interactionPolicy.Check.NO_NEED_TO_PROMPT;
  });
}

/**
 * Marks a `prompt=consent` Gatehouse added (see `keepOfflineAccess`), so it does not force the consent app the
 * way a client's own `prompt=consent` does.
 */
export const INJECTED_PROMPT_PARAM = "gatehouse_offline_prompt";

/** `prompt=consent` asked by the client forces consent (as with Hydra); the one Gatehouse added does not. */
function explicitConsentPromptCheck(): InstanceType<typeof interactionPolicy.Check> {
  return new interactionPolicy.Check("consent_prompt", "consent prompt was not resolved", "consent_required", (ctx: KoaContextWithOIDC) => {
    const { oidc } = ctx;
    const injected = oidc.params?.[INJECTED_PROMPT_PARAM] === "1";
    return oidc.prompts.has("consent") && oidc.promptPending("consent") && !injected
      ? interactionPolicy.Check.REQUEST_PROMPT
      : interactionPolicy.Check.NO_NEED_TO_PROMPT;
  });
}

/**
 * Hydra issues refresh tokens for `offline_access` whatever the `prompt`; oidc-provider follows OpenID Connect
 * Core §11 and drops `offline_access` unless the request has `prompt=consent`. Authorization requests asking
 * for `offline_access` get `prompt=consent` added (marked, so it forces nothing: consent is still skipped when
 * remembered). Requests with `prompt=none` are left alone (`none` cannot be combined); Hydra's `offline`
 * alias has no such rule. Only query-string requests are rewritten; a form-posted authorization request with
 * `offline_access` needs `prompt=consent` itself.
 */
function addOfflinePrompt(ctx: KoaContextWithOIDC): void {
  const query = new URLSearchParams(ctx.querystring);
  const scopes = (query.get("scope") ?? "").split(" ");
  const prompts = (query.get("prompt") ?? "").split(" ").filter((p) => p !== "");
  if (scopes.includes("offline_access") && !prompts.includes("consent") && !prompts.includes("none")) {
    query.set("prompt", [...prompts, "consent"].join(" "));
    query.set(INJECTED_PROMPT_PARAM, "1");
    ctx.querystring = query.toString();
  }
}

/** The interaction result field holding the SHA-256 of the verifier `redirect_to` carries. */
export const VERIFIER_HASH_FIELD = "gatehouse_verifier";

/** The resume routes: the authorization request's and the device flow's. */
const RESUME_PATH = /^\/oauth2\/(?:auth|device\/verify)\/([A-Za-z0-9_-]+)$/;

/**
 * A login or consent accepted through the admin API resumes only with the verifier its `redirect_to`
 * carries (`login_verifier` / `consent_verifier`, as Hydra's). Without it, whoever started an authorization
 * could hand the login link to a signed-in victim, whose login app accepts it, and resume it in their own
 * browser as the victim: the verifier only ever reaches the victim's browser, which lacks the resume cookie.
 */
async function resumeVerified(ctx: KoaContextWithOIDC, provider: Provider, uid: string): Promise<boolean> {
  const interaction = (await provider.Interaction.find(uid)) as { result?: Record<string, unknown> } | undefined;
  const expected = interaction?.result?.[VERIFIER_HASH_FIELD];
  if (typeof expected !== "string") return true;
  const presented = String(ctx.query["login_verifier"] ?? ctx.query["consent_verifier"] ?? "");
  const digest = createHash("sha256").update(presented, "utf8").digest();
  const wanted = Buffer.from(expected, "hex");
  if (presented !== "" && wanted.length === digest.length && timingSafeEqual(wanted, digest)) return true;
  ctx.status = 403;
  ctx.type = "html";
  ctx.body = errorPage("request_forbidden", "The sign-in cannot continue here: the verifier is missing or wrong. Finish the sign-in in the browser that started it.");
  return false;
}

/**
 * Hydra's behaviours that need a look at the request or the answer, in one middleware so the hot paths
 * (token requests and introspection are POSTs) pass with one comparison.
 */
function installHydraBehaviours(provider: Provider): void {
  provider.use(async (ctx, next) => {
    if (ctx.method !== "GET") return next();
    const path = ctx.path;
    if (path === "/oauth2/auth") {
      addOfflinePrompt(ctx as KoaContextWithOIDC);
      return next();
    }
    if (path === "/.well-known/openid-configuration") {
      await next();
      // Discovery lists the well-known scopes, not every client's (the set grows as clients are loaded).
      if (ctx.body !== null && typeof ctx.body === "object") (ctx.body as Record<string, unknown>)["scopes_supported"] = [...ADVERTISED_SCOPES];
      return;
    }
    const resume = RESUME_PATH.exec(path);
    if (resume !== null && !(await resumeVerified(ctx as KoaContextWithOIDC, provider, resume[1] ?? ""))) return;
    return next();
  });
}

/** The provider and what the public plane's request preparation needs of it. */
export interface ProviderBundle {
  readonly provider: Provider;
  readonly registerScopes: ScopeRegistrar;
  /**
   * The stand-in the provider accepts for a JWT access token of ours (its revocation and introspection
   * endpoints refuse JWTs outright); undefined when the JWT does not verify.
   */
  standInForJwt(jwt: string): Promise<string | undefined>;
}

/** Builds the provider. */
export function createProvider(options: ProviderOptions): ProviderBundle {
  const lifespans = options.lifespans ?? DEFAULT_LIFESPANS;
  const policy = interactionPolicy.base();
  policy.get("login")?.checks.add(notRememberedCheck());
  const consentChecks = policy.get("consent")?.checks;
  consentChecks?.remove("consent_prompt");
  consentChecks?.add(explicitConsentPromptCheck(), 0);

  const markers = createStorageIdMarkers(options.storageIdKeys);
  // Bound once the provider exists (adapters are first used after construction).
  let registerScopes: ScopeRegistrar = () => {};
  // Every token request reads its client; converting the same stored client again is wasted work. A client
  // changes only with a new `updated_at` or secret, so those key the converted form.
  const converted = new LRUCache<string, Record<string, unknown>>({ max: 10_000 });
  const toMetadata = (client: HydraClient): Record<string, unknown> => {
    const key = `${client.client_id}\u0000${client.updated_at}\u0000${client.client_secret ?? ""}\u0000${(client.rotated_secrets ?? []).join(",")}`;
    const cached = converted.get(key);
    if (cached !== undefined) return cached;
    registerScopes(client.scope, true);
    const metadata = options.toClientMetadata(client);
    converted.set(key, metadata);
    return metadata;
  };
  const configuration: Configuration = {
    adapter: createAdapterFactory(options.store, options.tokens, { clients: options.store, toMetadata }, markers, options.jwtAccessTokens) as unknown as Configuration["adapter"],
    jwks: options.jwks,
    cookies: {
      keys: options.cookieKeys,
      names: { session: "gatehouse_oauth2_session", interaction: "gatehouse_oauth2_interaction", resume: "gatehouse_oauth2_resume" },
    },
    routes: {
      authorization: "/oauth2/auth",
      token: "/oauth2/token",
      revocation: "/oauth2/revoke",
      introspection: "/oauth2/introspect",
      end_session: "/oauth2/sessions/logout",
      userinfo: "/userinfo",
      jwks: "/.well-known/jwks.json",
      device_authorization: "/oauth2/device/auth",
      code_verification: "/oauth2/device/verify",
      pushed_authorization_request: "/oauth2/par",
      registration: "/oauth2/register",
      backchannel_authentication: "/oauth2/backchannel",
      challenge: "/oauth2/challenge",
      credential: "/oauth2/credential",
    },
    scopes: [...ADVERTISED_SCOPES],
    claims: SCOPE_CLAIMS,
    subjectTypes: ["public", "pairwise"],
    // A client registered with `subject_type: pairwise` sees a per-sector subject (OpenID Connect Core §8.1):
    // the same user gets different, unlinkable subjects at different sectors, stable within one.
    pairwiseIdentifier: async (_ctx, accountId, client) =>
      createHmac("sha256", options.pairwiseKey).update(`${client.sectorIdentifier ?? ""}\u0000${accountId}`, "utf8").digest("base64url"),
    conformIdTokenClaims: false,
    responseTypes: ["code", "code id_token", "id_token", "none"],
    clientAuthMethods: ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
    enabledJWA: {
      idTokenSigningAlgValues: ["RS256", "ES256"],
      userinfoSigningAlgValues: ["RS256", "ES256"],
      clientAuthSigningAlgValues: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"],
      requestObjectSigningAlgValues: ["RS256", "ES256"],
    },
    clientDefaults: {
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: "RS256",
    },
    extraClientMetadata: { properties: [...options.extraClientProperties] },
    extraParams: [INJECTED_PROMPT_PARAM],
    pkce: {
      required: (_ctx, client) => options.pkceForAllClients === true || client.clientAuthMethod === "none",
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
      resourceIndicators: { enabled: false },
      deviceFlow: {
        enabled: true,
        charset: "base-20",
        mask: "****-****",
        userCodeInputSource: async (ctx, form, _out, err) => {
          ctx.body = deviceInputPage(form, err === undefined ? undefined : err.name === "NoCodeError" || "userCode" in err ? "The code is not valid. Check it and try again." : "The request could not be completed.");
        },
        userCodeConfirmSource: async (ctx, form, client, _deviceInfo, userCode) => {
          ctx.body = deviceConfirmPage(form, client.clientName ?? client.clientId, userCode);
        },
        successSource: async (ctx) => {
          ctx.body = deviceSuccessPage(ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId ?? "");
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          await logoutRedirect(ctx, form, options);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = logoutSuccessPage();
        },
      },
    },
    interactions: {
      policy,
      url: async (_ctx, interaction) => {
        const name = interaction.prompt.name;
        if (name === "login") {
          return withQuery(options.urls.login, "login_challenge", options.challenges.seal({ purpose: "login", id: interaction.uid, exp: interaction.exp }));
        }
        if (name === "consent") {
          return withQuery(options.urls.consent, "consent_challenge", options.challenges.seal({ purpose: "consent", id: interaction.uid, exp: interaction.exp }));
        }
        throw new errors.InvalidRequest(`the ${name} prompt is not supported`);
      },
    },
    loadExistingGrant: async (ctx) => loadGrant(ctx, options.store),
    findAccount: async (_ctx, sub) => {
      const claims = (await options.accounts(sub)) ?? {};
      return {
        accountId: sub,
        claims: async () => ({ ...claims, sub }),
      };
    },
    extraTokenClaims: async (_ctx, token) => {
      const session = await grantSessionClaims(options.store, (token as { grantId?: string }).grantId);
      return session?.access_token === undefined ? undefined : { ext: session.access_token };
    },
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed("refresh_token") && (code.scopes.has("offline_access") || code.scopes.has("offline")),
    // Every refresh rotates (Hydra); a spent refresh token presented again revokes the grant.
    rotateRefreshToken: true,
    ttl: {
      AccessToken: lifespans.accessToken,
      ClientCredentials: lifespans.accessToken,
      IdToken: lifespans.idToken,
      RefreshToken: lifespans.refreshToken,
      AuthorizationCode: lifespans.authorizationCode,
      DeviceCode: lifespans.deviceCode,
      Interaction: lifespans.loginConsentRequest,
      Session: lifespans.authenticationSession,
      Grant: lifespans.refreshToken,
    },
    expiresWithSession: async () => false,
    // The provider always installs its SSRF-guarding dispatcher; drop it unless private ranges are refused.
    fetch: (url, init) => {
      if (options.disallowPrivateIpRanges === true) return globalThis.fetch(url, init);
      const { dispatcher: _guard, ...rest } = init as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(url, rest);
    },
    renderError: async (ctx, out) => {
      ctx.type = "html";
      ctx.body = errorPage(out.error, out.error_description);
    },
  };

  const provider = new Provider(options.issuer, configuration);
  registerScopes = openProviderScopes(provider);
  installHydraBehaviours(provider);
  if (options.trustProxy === true) provider.proxy = true;
  installTokenMinting(provider, options.tokens);
  installJwtAccessTokens(provider, options.tokens, options.jwtAccessTokens, options.issuer);
  installSecretCheck(provider, options.checkClientSecret);
  installIdTokenSessionClaims(provider, options.store);
  return {
    provider,
    registerScopes,
    async standInForJwt(jwt) {
      const storageId = await options.jwtAccessTokens.storageIdOf(jwt);
      return storageId === undefined ? undefined : markers.mark(storageId);
    },
  };
}

function withQuery(base: string, name: string, value: string): string {
  const url = new URL(base);
  url.searchParams.set(name, value);
  return url.href;
}

/**
 * The grant an authorization request starts from: the one the consent app just granted, else a remembered consent
 * of the subject for the client (Hydra's `remember`), else, for first-party clients (`skip_consent`), a new
 * grant of every requested scope the client may ask for.
 */
async function loadGrant(ctx: KoaContextWithOIDC, store: OAuth2Store): Promise<InstanceType<Provider["Grant"]> | undefined> {
  const { oidc } = ctx;
  const client = oidc.client;
  const session = oidc.session;
  const accountId = session?.accountId;
  if (client === undefined || session === undefined || accountId === undefined) return undefined;
  // The login session's own grant is not reused: as with Hydra, consent is skipped only when it was
  // remembered (or the client is first-party), not for the rest of the browser session.
  const grantId = (oidc.result?.["consent"] as { grantId?: string } | undefined)?.grantId;
  if (grantId !== undefined) {
    const grant = await oidc.provider.Grant.find(grantId);
    if (grant !== undefined && grant.accountId === accountId) return grant;
  }
  const remembered = await store.findRememberedConsent(accountId, client.clientId);
  if (remembered !== undefined) {
    const grant = await oidc.provider.Grant.find(remembered.grantId);
    if (grant !== undefined && grant.accountId === accountId) return grant;
  }
  if ((client as unknown as Record<string, unknown>)["skip_consent"] === true) {
    const allowed = new Set((client.scope ?? "").split(" ").filter((s) => s !== ""));
    const requested = String(oidc.params?.["scope"] ?? "")
      .split(" ")
      .filter((s) => s !== "" && (allowed.size === 0 || allowed.has(s)));
    const grant = new oidc.provider.Grant({ accountId, clientId: client.clientId });
    if (requested.length > 0) grant.addOIDCScope(requested.join(" "));
    await grant.save();
    return grant;
  }
  return undefined;
}

/** Opaque token values minted by our codec (prefix, kind, random part, MAC) instead of bare random ids. */
function installTokenMinting(provider: Provider, tokens: OpaqueTokenCodec): void {
  for (const [model, kind] of MINTED) {
    const proto = (provider[model] as unknown as { prototype: { generateTokenId(this: { format?: string }): string } }).prototype;
    const original = proto.generateTokenId;
    proto.generateTokenId = function generateTokenId(this: { format?: string }) {
      // The provider's own minting also decides the token's format (opaque or JWT); JWT ids stay its own.
      const own = original.call(this);
      return this.format === "jwt" ? own : tokens.mint(kind);
    };
  }
}

/** The token fields `installJwtAccessTokens` reads. */
interface AccessTokenLike {
  readonly client?: { readonly access_token_strategy?: unknown; readonly clientId: string };
  getValueAndPayload(this: AccessTokenLike): Promise<{ value: string; payload?: Record<string, unknown> }>;
}

/**
 * Clients registered with `access_token_strategy: jwt` get their access tokens as RFC 9068 JWTs; the record
 * is stored as for an opaque token (introspection and revocation keep working), and the JWT's `jti` names it.
 */
function installJwtAccessTokens(provider: Provider, tokens: OpaqueTokenCodec, jwt: JwtAccessTokenCodec, issuer: string): void {
  for (const model of ["AccessToken", "ClientCredentials"] as const) {
    const proto = (provider[model] as unknown as { prototype: AccessTokenLike }).prototype;
    const original = proto.getValueAndPayload;
    proto.getValueAndPayload = async function getValueAndPayload(this: AccessTokenLike) {
      const result = await original.call(this);
      if (this.client?.access_token_strategy !== "jwt" || result.payload === undefined) return result;
      const payload = result.payload;
      const clientId = String(payload["clientId"] ?? this.client.clientId);
      const ext = (payload["extra"] as { ext?: Record<string, unknown> } | undefined)?.ext;
      const value = await jwt.sign({
        iss: issuer,
        sub: typeof payload["accountId"] === "string" ? payload["accountId"] : clientId,
        aud: [],
        client_id: clientId,
        scope: typeof payload["scope"] === "string" ? payload["scope"] : undefined,
        iat: Number(payload["iat"]),
        exp: Number(payload["exp"]),
        jti: tokens.storageId(result.value),
        ext,
      });
      return { value, payload };
    };
  }
}

/** Client secrets are stored hashed: compare by verifying the hash (and the rotated ones). */
function installSecretCheck(provider: Provider, check: ClientSecretCheck): void {
  const proto = provider.Client.prototype as unknown as {
    compareClientSecret(this: { clientSecret?: string; rotated_secrets?: string[] }, actual: string): Promise<boolean>;
  };
  proto.compareClientSecret = async function compareClientSecret(actual) {
    const stored = this.clientSecret;
    if (typeof stored !== "string" || stored === "" || typeof actual !== "string") return false;
    return check(actual, stored, Array.isArray(this.rotated_secrets) ? this.rotated_secrets : []);
  };
}

/** Claims a consent accept put in `session.id_token` go into ID tokens, as with Hydra. */
function installIdTokenSessionClaims(provider: Provider, store: OAuth2Store): void {
  const proto = provider.IdToken.prototype as unknown as {
    issue(this: IdTokenLike, options: unknown): Promise<string>;
  };
  const original = proto.issue;
  proto.issue = async function issue(this: IdTokenLike, issueOptions: unknown) {
    const grantId = this.ctx?.oidc?.entities?.Grant?.jti;
    const session = await grantSessionClaims(store, grantId);
    if (session?.id_token !== undefined) {
      for (const [key, value] of Object.entries(session.id_token)) {
        if (!RESERVED_ID_TOKEN_CLAIMS.has(key)) this.set(key, value);
      }
    }
    return original.call(this, issueOptions);
  };
}

interface IdTokenLike {
  readonly ctx?: { oidc?: { entities?: { Grant?: { jti?: string } } } };
  set(key: string, value: unknown): void;
}

/** Claims a consent app cannot override (Hydra keeps these too). */
const RESERVED_ID_TOKEN_CLAIMS = new Set(["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "nonce", "at_hash", "c_hash", "s_hash", "auth_time", "acr", "amr", "azp", "sid"]);

/** The artifact model holding pending RP-initiated logouts (Hydra's logout requests). */
export const LOGOUT_REQUEST_MODEL = "LogoutRequest";

/** A pending logout, as stored. */
export interface StoredLogoutRequest extends Record<string, unknown> {
  readonly secret: string;
  readonly subject: string;
  readonly sid: string;
  readonly clientId?: string;
  readonly requestUrl: string;
  readonly rpInitiated: boolean;
  readonly requestedAt: number;
  readonly expiresAt: number;
  /** Front-channel logout URLs of the session's clients (with `iss` and `sid`), loaded in frames on accept. */
  readonly frontChannelUrls: readonly string[];
  /** Set once accepted or rejected (later calls get 410). */
  readonly handled?: "accepted" | "rejected";
}

/**
 * RP-initiated logout goes to the logout app with a challenge (Hydra) instead of the provider's confirmation
 * page. The provider's confirmation secret is kept with the request; accepting it lets the browser post the
 * confirmation (`/oauth2/sessions/logout/verify`).
 */
async function logoutRedirect(ctx: KoaContextWithOIDC, _form: string, options: ProviderOptions): Promise<void> {
  const session = ctx.oidc.session;
  if (session === undefined) throw new errors.InvalidRequest("no session to sign out of");
  const state = (session as unknown as { state?: { secret?: string; clientId?: string } }).state;
  const id = createHash("sha256").update(`${state?.secret ?? ""}:${Date.now()}:${Math.random()}`).digest("base64url").slice(0, 32);
  const now = Math.floor(Date.now() / 1000);
  const ttl = options.lifespans?.loginConsentRequest ?? DEFAULT_LIFESPANS.loginConsentRequest;
  const request: StoredLogoutRequest = {
    frontChannelUrls: await frontChannelUrls(session as unknown as { authorizations?: Record<string, { sid?: string }> }, options),
    secret: state?.secret ?? "",
    subject: session.accountId ?? "",
    sid: session.uid ?? "",
    ...(state?.clientId === undefined ? {} : { clientId: state.clientId }),
    requestUrl: ctx.href,
    rpInitiated: true,
    requestedAt: now,
    expiresAt: now + ttl,
  };
  await options.store.upsert(LOGOUT_REQUEST_MODEL, id, request, ttl);
  ctx.status = 303;
  ctx.redirect(withQuery(options.urls.logout, "logout_challenge", options.challenges.seal({ purpose: "logout", id, exp: now + ttl })));
}

/**
 * OpenID Connect Front-Channel Logout (oidc-provider has none): the `frontchannel_logout_uri` of every client
 * the session signed in to, with `iss` and that client's `sid` (Hydra adds both whatever
 * `frontchannel_logout_session_required` says).
 */
async function frontChannelUrls(session: { authorizations?: Record<string, { sid?: string }> }, options: ProviderOptions): Promise<string[]> {
  const urls: string[] = [];
  for (const [clientId, authorization] of Object.entries(session.authorizations ?? {})) {
    const client = await options.store.getClient(clientId);
    if (client?.frontchannel_logout_uri === undefined || client.frontchannel_logout_uri === "") continue;
    const url = new URL(client.frontchannel_logout_uri);
    url.searchParams.set("iss", options.issuer);
    if (authorization.sid !== undefined) url.searchParams.set("sid", authorization.sid);
    urls.push(url.href);
  }
  return urls;
}
