/**
 * The identity service (Kratos's job): its public plane (default 4433: self-service flows, whoami, the
 * caller's sessions) and admin plane (4434: identities, sessions), wired to a store, the identity schemas
 * and the password hasher.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createApiKeyVerifier } from "../../gateways/auth/api-keys.js";
import type { ServerMetrics } from "../../gateways/observability/metrics.js";
import { createPlaneServer, type PlaneServer } from "../../gateways/server/plane-server.js";
import { createAdminRoutes } from "./api/admin-routes.js";
import { createPublicRoutes } from "./api/public-routes.js";
import type { PasswordHasher, PasswordPolicy, TraitSchemas } from "./deps.js";
import { BrowserFlows, type BrowserUrlsOptions } from "./flows/browser.js";
import { LogoutFlows } from "./flows/logout.js";
import { SelfService } from "./flows/self-service.js";
import type { SubmissionHook } from "./api/public-routes.js";
import { RegistrationWebHook, type WebHookConfig } from "./hooks/web-hook.js";
import type { OAuth2BridgeRef } from "./oauth2-bridge.js";
import type { SessionRevocationChannel } from "./session-revocations.js";
import { SessionService } from "./sessions.js";
import type { IdentityStore } from "./store/identity-store.js";

/** Options of `startIdentityPlanes`. */
export interface IdentityPlanesOptions {
  readonly store: IdentityStore;
  readonly schemas: TraitSchemas;
  readonly hasher: PasswordHasher;
  readonly policy: PasswordPolicy;
  readonly public: { readonly host: string; readonly port: number };
  readonly admin: { readonly host: string; readonly port: number };
  /** The URL clients reach the public plane at (flow actions, schema URLs); default `http://<host>:<bound port>`. */
  readonly publicBaseUrl?: string;
  /** Session lifespan (Kratos: 24 h). */
  readonly sessionLifespanMillis?: number;
  /** How long a whoami answer is reused (default 5 s; 0 = no cache). */
  readonly sessionCacheTtlMillis?: number;
  /** Carries session revocations between nodes, so their whoami caches forget at once. */
  readonly sessionRevocations?: SessionRevocationChannel;
  /** Flow lifespan (Kratos: 1 h). */
  readonly flowLifespanMillis?: number;
  /**
   * Browser flows: the UI URLs (default the built-in pages `<public base>/ui/{login,registration}`), where
   * browsers go after signing in (`/ui/welcome`) and out (`/ui/login`), and the URLs `return_to` may name
   * besides the public base URL.
   */
  readonly browser?: BrowserUrlsOptions;
  /** Called for every flow submission before it is processed (e.g. a rate limiter). */
  readonly beforeSubmit?: SubmissionHook;
  /** Sign in right after registration (Kratos's `session` hook). Default true. */
  readonly sessionAfterRegistration?: boolean;
  /** Kratos's `web_hook` after registration. */
  readonly registrationWebHook?: WebHookConfig;
  /** Operational messages (web hook failures). */
  readonly log?: (line: string) => void;
  /** SHA-256 hashes of admin API keys; empty = no key needed (Kratos's default). */
  readonly adminApiKeyHashes?: readonly string[];
  readonly shutdownTimeoutMillis?: number;
  /** Shared request metrics (served on the admin plane's `/metrics`). */
  readonly metrics?: ServerMetrics;
  /**
   * The OAuth2 service, for the built-in login, consent and logout app on the public plane (`/ui/oauth2/*`);
   * late-bound: set `current` once the OAuth2 service is up. Absent or unset: those pages answer 404.
   */
  readonly oauth2?: OAuth2BridgeRef;
}

/** The running planes. */
export interface IdentityPlanes {
  readonly ports: { readonly public: number; readonly admin: number };
  readonly publicBaseUrl: string;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** Starts both planes. */
export async function startIdentityPlanes(options: IdentityPlanesOptions): Promise<IdentityPlanes> {
  // The routes need the public URL, known only once the public plane is bound (port 0 in tests).
  let publicRoutes: Handler = async () => false;
  let adminRoutes: Handler = async () => false;
  const common = {
    ...(options.shutdownTimeoutMillis === undefined ? {} : { shutdownTimeoutMillis: options.shutdownTimeoutMillis }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  };
  const publicPlane = createPlaneServer({ ...common, ...options.public, plane: "identity-public", http: (req, res) => publicRoutes(req, res) });
  const adminPlane = createPlaneServer({
    ...common,
    ...options.admin,
    plane: "identity-admin",
    serveMetrics: options.metrics !== undefined,
    http: (req, res) => adminRoutes(req, res),
  });
  const started: PlaneServer[] = [];
  try {
    const publicPort = (await publicPlane.listen()).port;
    started.push(publicPlane);
    const adminPort = (await adminPlane.listen()).port;
    started.push(adminPlane);
    const host = options.public.host === "0.0.0.0" || options.public.host === "::" ? "127.0.0.1" : options.public.host;
    const publicBaseUrl = (options.publicBaseUrl ?? `http://${host}:${publicPort}`).replace(/\/+$/, "");
    const sessions = new SessionService(options.store, options.sessionLifespanMillis ?? 24 * 3_600_000, {
      ...(options.sessionCacheTtlMillis === undefined ? {} : { cacheTtlMillis: options.sessionCacheTtlMillis }),
      ...(options.sessionRevocations === undefined ? {} : { revocations: options.sessionRevocations }),
    });
    const flows = new SelfService({
      store: options.store,
      schemas: options.schemas,
      hasher: options.hasher,
      policy: options.policy,
      sessions,
      publicBaseUrl,
      flowLifespanMillis: options.flowLifespanMillis ?? 3_600_000,
      sessionAfterRegistration: options.sessionAfterRegistration ?? true,
      ...(options.registrationWebHook === undefined
        ? {}
        : { registrationWebHook: new RegistrationWebHook(options.registrationWebHook, options.log ?? (() => {})) }),
    });
    const browser = new BrowserFlows(publicBaseUrl, options.browser);
    publicRoutes = createPublicRoutes({
      store: options.store,
      schemas: options.schemas,
      flows,
      sessions,
      publicBaseUrl,
      browser,
      logout: new LogoutFlows(options.store, sessions, browser),
      ...(options.beforeSubmit === undefined ? {} : { beforeSubmit: options.beforeSubmit }),
      ...(options.oauth2 === undefined ? {} : { oauth2: options.oauth2 }),
    });
    adminRoutes = createAdminRoutes({
      store: options.store,
      schemas: options.schemas,
      hasher: options.hasher,
      sessions,
      publicBaseUrl,
      keys: createApiKeyVerifier(options.adminApiKeyHashes ?? []),
    });
    // Expired flows are useless; sweep them now and then.
    const sweeper = setInterval(() => {
      options.store.deleteExpiredFlows(new Date(Date.now() - 3_600_000)).catch(() => {});
    }, 10 * 60_000);
    sweeper.unref();
    return {
      ports: { public: publicPort, admin: adminPort },
      publicBaseUrl,
      async close() {
        clearInterval(sweeper);
        await Promise.all(started.map((s) => s.close()));
        sessions.close();
      },
    };
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
}
