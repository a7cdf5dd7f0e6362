/**
 * The OAuth2 and OpenID Connect service (Hydra's job): the public plane (default 4444: oidc-provider on
 * Hydra's paths) and the admin plane (4445: clients, keys, login/consent/logout requests, sessions,
 * introspection), over the OAuth2 store.
 *
 * Signing keys live in the store (sealed under the system secret). Every node polls the store's key version
 * and rebuilds its provider when the keys change, so a rotation through `/admin/keys` reaches the whole
 * cluster within `keysPollMillis`.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Provider } from "oidc-provider";
import { createApiKeyVerifier } from "../../gateways/auth/api-keys.js";
import type { ServerMetrics } from "../../gateways/observability/metrics.js";
import { metricsPaths } from "../../gateways/observability/metrics-endpoint.js";
import { createPlaneServer, type PlaneServer } from "../../gateways/server/plane-server.js";
import { clientRoutes } from "./api/client-routes.js";
import { flowRoutes } from "./api/flow-routes.js";
import { dispatch, OAuth2HttpError, sendError, type Route } from "./api/http-io.js";
import { keyRoutes } from "./api/key-routes.js";
import { createSecretVerifier, hashClientSecret } from "./clients/client-secrets.js";
import { publicClientJson } from "./clients/client-validation.js";
import { EXTRA_CLIENT_PROPERTIES, toProviderMetadata } from "./clients/provider-metadata.js";
import type { HydraClient } from "./clients/hydra-client.js";
import { createIntrospector, type TokenIntrospector } from "./flows/introspection.js";
import { LoginConsentService } from "./flows/login-consent.js";
import { ACCESS_TOKEN_SET, createKeyVault, type KeyVault } from "./keys/key-vault.js";
import { createJwtAccessTokens } from "./keys/jwt-access-tokens.js";
import { createOpaqueTokens } from "./keys/opaque-tokens.js";
import { loadSystemSecrets } from "./keys/system-secrets.js";
import { createChallengeCodec, type ChallengeCodec } from "./provider/challenges.js";
import { createProvider, DEFAULT_LIFESPANS, type AccountLookup, type TokenLifespans } from "./provider/create-provider.js";
import type { ScopeRegistrar } from "./provider/open-scopes.js";
import { logoutConfirmPage } from "./provider/pages.js";
import { prepareRequest } from "./provider/prepare-request.js";
import type { OAuth2Store } from "./store/oauth2-store.js";

/** Grant and response types the provider serves; clients' others are left out of their provider metadata. */
const PROVIDER_SUPPORT = {
  grantTypes: ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "implicit"],
  responseTypes: ["code", "code id_token", "id_token", "none"],
};

/** Options of `startOAuth2Planes`. */
export interface OAuth2PlanesOptions {
  readonly store: OAuth2Store;
  readonly public: { readonly host: string; readonly port: number };
  readonly admin: { readonly host: string; readonly port: number };
  /** The issuer (the public plane's URL as clients see it); default `http://<host>:<bound port>`. */
  readonly issuer?: string;
  /**
   * The login, consent and logout apps. Each may be a function of the issuer (the built-in app's URLs are
   * known only once the planes are bound).
   */
  readonly urls: (issuer: string) => { login: string; consent: string; logout: string };
  /** Claims of a subject (the identity service), for ID tokens and userinfo. */
  readonly accounts: AccountLookup;
  /** `oauth2.secrets.system`; empty = one generated and kept in the store. */
  readonly systemSecrets?: readonly string[];
  /** Prefix of opaque tokens (`<prefix>_at_...`). Default `gh`. */
  readonly tokenPrefix?: string;
  readonly lifespans?: TokenLifespans;
  readonly pkceForAllClients?: boolean;
  /** PBKDF2 iterations of new client secrets (Hydra: 25,000). */
  readonly clientSecretIterations?: number;
  /** SHA-256 hashes of admin API keys; empty = no key needed (Hydra's admin port has none). */
  readonly adminApiKeyHashes?: readonly string[];
  /** Trust `X-Forwarded-Proto`/`-Host` (behind a TLS-terminating proxy). */
  readonly trustProxy?: boolean;
  /** Refuse outgoing requests (back-channel logout, `jwks_uri`) to loopback and private addresses. */
  readonly disallowPrivateIpRanges?: boolean;
  /** How often to look for key changes made by other nodes (default 10 s; 0 = never). */
  readonly keysPollMillis?: number;
  readonly log?: (line: string) => void;
  readonly shutdownTimeoutMillis?: number;
  readonly metrics?: ServerMetrics;
}

/** The running planes. */
export interface OAuth2Planes {
  readonly ports: { readonly public: number; readonly admin: number };
  readonly issuer: string;
  /** The login/consent/logout requests (the built-in login app calls them in-process). */
  readonly flows: LoginConsentService;
  readonly introspector: TokenIntrospector;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** What is rebuilt when the signing keys change. */
interface ProviderGeneration {
  readonly provider: Provider;
  readonly registerScopes: ScopeRegistrar;
  standInForJwt(jwt: string): Promise<string | undefined>;
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  readonly introspector: TokenIntrospector;
}

/** Starts both planes. */
export async function startOAuth2Planes(options: OAuth2PlanesOptions): Promise<OAuth2Planes> {
  let publicRoutes: Handler = async () => false;
  let adminRoutes: Handler = async () => false;
  const common = {
    ...(options.shutdownTimeoutMillis === undefined ? {} : { shutdownTimeoutMillis: options.shutdownTimeoutMillis }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  };
  const publicPlane = createPlaneServer({ ...common, ...options.public, plane: "oauth2-public", http: (req, res) => publicRoutes(req, res) });
  const adminPlane = createPlaneServer({
    ...common,
    ...options.admin,
    plane: "oauth2-admin",
    serveMetrics: options.metrics !== undefined,
    http: (req, res) => adminRoutes(req, res),
  });
  const log = options.log ?? (() => {});
  const started: PlaneServer[] = [];
  let poller: NodeJS.Timeout | undefined;
  try {
    const secrets = await loadSystemSecrets({ configured: options.systemSecrets, store: options.store });
    const vault = createKeyVault({ store: options.store, secrets });
    await vault.ensureSigningKeys();
    const tokens = createOpaqueTokens({ secrets, ...(options.tokenPrefix === undefined ? {} : { prefix: options.tokenPrefix }) });
    const challenges = createChallengeCodec([...secrets.all]);
    const verifier = createSecretVerifier();

    const publicPort = (await publicPlane.listen()).port;
    started.push(publicPlane);
    const adminPort = (await adminPlane.listen()).port;
    started.push(adminPlane);
    const host = options.public.host === "0.0.0.0" || options.public.host === "::" ? "127.0.0.1" : options.public.host;
    const issuer = (options.issuer ?? `http://${host}:${publicPort}`).replace(/\/+$/, "");
    const urls = options.urls(issuer);

    const toMetadata = (client: HydraClient): Record<string, unknown> => ({
      ...toProviderMetadata(client, PROVIDER_SUPPORT),
      ...(client.rotated_secrets === undefined || client.rotated_secrets.length === 0 ? {} : { rotated_secrets: client.rotated_secrets }),
    });
    const build = async (): Promise<ProviderGeneration> => {
      const { provider, registerScopes, standInForJwt } = createProvider({
        issuer,
        store: options.store,
        tokens,
        storageIdKeys: secrets.derive("gatehouse oauth2 storage id"),
        pairwiseKey: secrets.derive("gatehouse oauth2 pairwise subject")[0] ?? secrets.current,
        jwtAccessTokens: await createJwtAccessTokens(await vault.privateSet(ACCESS_TOKEN_SET), issuer),
        challenges,
        toClientMetadata: toMetadata,
        extraClientProperties: [...EXTRA_CLIENT_PROPERTIES, "rotated_secrets"],
        checkClientSecret: (presented, stored, rotated) => verifier.verify(presented, stored, rotated),
        jwks: (await vault.providerJwks()) as Parameters<typeof createProvider>[0]["jwks"],
        cookieKeys: secrets.cookieKeys(),
        urls,
        accounts: options.accounts,
        lifespans: options.lifespans ?? DEFAULT_LIFESPANS,
        ...(options.pkceForAllClients === undefined ? {} : { pkceForAllClients: options.pkceForAllClients }),
        ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
        ...(options.disallowPrivateIpRanges === undefined ? {} : { disallowPrivateIpRanges: options.disallowPrivateIpRanges }),
      });
      provider.on("server_error", (_ctx: unknown, err: unknown) => {
        log(`oauth2: server error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      });
      provider.on("backchannel.error", (_ctx: unknown, err: unknown, client: { clientId?: string } | undefined) => {
        log(`oauth2: back-channel logout to client ${client?.clientId ?? "?"} failed: ${err instanceof Error ? err.message : String(err)}`);
      });
      return { provider, registerScopes, standInForJwt, handle: provider.callback(), introspector: createIntrospector(provider, issuer) };
    };

    let generation = await build();
    // The flows and the introspector read the current provider through this holder, so a key reload
    // reaches them too.
    const flows = new LoginConsentService({
      get provider() {
        return generation.provider;
      },
      store: options.store,
      challenges,
      issuer,
      clientJson: publicClientJson,
    });
    const introspector: TokenIntrospector = {
      introspect: (token, scope) => generation.introspector.introspect(token, scope),
    };

    let keysVersion = await options.store.keysVersion();
    let reloading: Promise<void> | undefined;
    const reloadKeys = (): Promise<void> => {
      reloading ??= (async () => {
        try {
          const version = await options.store.keysVersion();
          if (version === keysVersion) return;
          generation = await build();
          keysVersion = version;
          log("oauth2: signing keys changed; the provider now signs with the newest keys");
        } catch (err) {
          log(`oauth2: reloading the signing keys failed: ${err instanceof Error ? err.message : String(err)}`);
        } finally {
          reloading = undefined;
        }
      })();
      return reloading;
    };
    const pollEvery = options.keysPollMillis ?? 10_000;
    if (pollEvery > 0) {
      poller = setInterval(() => void reloadKeys(), pollEvery);
      poller.unref();
    }

    const keys = createApiKeyVerifier(options.adminApiKeyHashes ?? []);
    const admin: Route[] = [
      ...clientRoutes({
        clients: options.store,
        keys,
        hashSecret: (secret) => hashClientSecret(secret, options.clientSecretIterations === undefined ? {} : { iterations: options.clientSecretIterations }),
      }),
      ...keyRoutes({ vault, keys, onKeysChanged: () => void reloadKeys() }),
      ...flowRoutes({ flows, introspector, keys }),
    ];
    adminRoutes = async (req, res) => {
      const url = new URL(req.url ?? "/", "http://admin.invalid");
      if (url.pathname.startsWith("/health/") || url.pathname === "/version" || metricsPaths.includes(url.pathname)) return false;
      // Hydra's admin port accepts its routes without the /admin prefix too (`/clients`, `/oauth2/introspect`).
      if (!url.pathname.startsWith("/admin/")) url.pathname = `/admin${url.pathname}`;
      if (await dispatch(admin, req, res, url)) return true;
      sendError(res, new OAuth2HttpError(404, "not_found", `No route ${req.method ?? ""} ${url.pathname}.`));
      return true;
    };
    publicRoutes = async (req, res) => {
      const url = new URL(req.url ?? "/", "http://public.invalid");
      if (url.pathname.startsWith("/health/") || url.pathname === "/version") return false;
      if (url.pathname === "/oauth2/sessions/logout/verify" && req.method === "GET") {
        await sendLogoutConfirmation(res, flows, url, issuer);
        return true;
      }
      // RFC 8414 metadata is the same document (Hydra serves both).
      if (url.pathname === "/.well-known/oauth-authorization-server") req.url = `/.well-known/openid-configuration${url.search}`;
      const current = generation;
      await prepareRequest(req, url, current);
      current.handle(req, res);
      return true;
    };

    return {
      ports: { public: publicPort, admin: adminPort },
      issuer,
      flows,
      introspector,
      async close() {
        if (poller !== undefined) clearInterval(poller);
        await Promise.all(started.map((s) => s.close()));
      },
    };
  } catch (err) {
    if (poller !== undefined) clearInterval(poller);
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
}

/** The page that runs front-channel logout and posts the provider's confirmation for an accepted logout. */
async function sendLogoutConfirmation(res: ServerResponse, flows: LoginConsentService, url: URL, issuer: string): Promise<void> {
  try {
    const { xsrf, frontChannelUrls } = await flows.logoutConfirmation(url.searchParams.get("logout_verifier") ?? "");
    const nonce = randomBytes(16).toString("base64");
    const html = logoutConfirmPage(`${issuer}/oauth2/sessions/logout/confirm`, { xsrf, logout: "yes" }, frontChannelUrls, nonce);
    const frameOrigins = [...new Set(frontChannelUrls.map((u) => new URL(u).origin))];
    res.writeHead(200, {
      "content-type": "text/html; charset=utf-8",
      "content-length": Buffer.byteLength(html),
      "cache-control": "no-store",
      "content-security-policy": [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        `script-src 'nonce-${nonce}'`,
        `frame-src ${frameOrigins.length === 0 ? "'none'" : frameOrigins.join(" ")}`,
        // The confirmation redirects on to the client's post_logout_redirect_uri.
        "form-action *",
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ].join("; "),
      "x-frame-options": "DENY",
    });
    res.end(html);
  } catch (err) {
    sendError(res, err);
  }
}

export type { KeyVault, ChallengeCodec };
