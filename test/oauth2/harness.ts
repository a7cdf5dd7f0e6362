/**
 * Test helpers for the OAuth2 service: start its planes on ephemeral ports over a memory store, register
 * clients through the admin API, and drive the authorization-code flow without a browser (manual redirects,
 * a cookie jar, and the admin accept APIs where a login or consent app would be).
 */
import { startOAuth2Planes, type OAuth2Planes, type OAuth2PlanesOptions } from "../../services/oauth2/oauth2-service.js";
import { createMemoryOAuth2Store } from "../../services/oauth2/store/memory-oauth2-store.js";
import type { OAuth2Store } from "../../services/oauth2/store/oauth2-store.js";

/** The apps' URLs when the test plays the login and consent app itself (nothing listens there). */
export const UNUSED_APP = "http://127.0.0.1:9/app";

/** A started service and its admin base URL. */
export interface TestOAuth2 {
  readonly planes: OAuth2Planes;
  readonly store: OAuth2Store;
  readonly issuer: string;
  readonly admin: string;
  close(): Promise<void>;
}

/** Starts the planes on 127.0.0.1 with ephemeral ports. */
export async function startTestOAuth2(overrides: Partial<OAuth2PlanesOptions> = {}): Promise<TestOAuth2> {
  const store = overrides.store ?? createMemoryOAuth2Store();
  const planes = await startOAuth2Planes({
    store,
    public: { host: "127.0.0.1", port: 0 },
    admin: { host: "127.0.0.1", port: 0 },
    urls: () => ({ login: `${UNUSED_APP}/login`, consent: `${UNUSED_APP}/consent`, logout: `${UNUSED_APP}/logout` }),
    accounts: async (subject) => ({ email: `${subject}@example.test`, email_verified: true, name: `User ${subject}` }),
    clientSecretIterations: 1_000,
    keysPollMillis: 0,
    log: (line) => process.stderr.write(`${line}\n`),
    shutdownTimeoutMillis: 100,
    ...overrides,
  });
  return {
    planes,
    store,
    issuer: planes.issuer,
    admin: `http://127.0.0.1:${planes.ports.admin}`,
    async close() {
      await planes.close();
      await store.close();
    },
  };
}

/** Registers a client through `POST /admin/clients`; returns Hydra's answer (with the plain secret). */
export async function createClient(admin: string, body: Record<string, unknown>): Promise<{ client_id: string; client_secret?: string } & Record<string, unknown>> {
  const res = await fetch(`${admin}/admin/clients`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = (await res.json()) as { client_id: string; client_secret?: string } & Record<string, unknown>;
  if (res.status !== 201) throw new Error(`creating a client failed: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** A minimal cookie jar (name -> value; ignores paths and domains: every plane is on 127.0.0.1). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(";")[0] ?? "";
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = /expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0/i.test(line) || value === "";
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  clear(): void {
    this.cookies.clear();
  }
}

/** What the test's login and consent "apps" do with a challenge. */
export interface FlowDriver {
  onLogin?(challenge: string): Promise<string>;
  onConsent?(challenge: string): Promise<string>;
}

/** A login app that accepts `subject` through the admin API. */
export function acceptingApps(admin: string, subject: string, consent: Record<string, unknown> = {}, login: Record<string, unknown> = {}): Required<FlowDriver> {
  return {
    async onLogin(challenge) {
      return adminPut(admin, `/admin/oauth2/auth/requests/login/accept?login_challenge=${encodeURIComponent(challenge)}`, { subject, ...login });
    },
    async onConsent(challenge) {
      const request = (await (await fetch(`${admin}/admin/oauth2/auth/requests/consent?consent_challenge=${encodeURIComponent(challenge)}`)).json()) as { requested_scope: string[] };
      return adminPut(admin, `/admin/oauth2/auth/requests/consent/accept?consent_challenge=${encodeURIComponent(challenge)}`, {
        grant_scope: request.requested_scope,
        ...consent,
      });
    },
  };
}

/** PUTs JSON to the admin API and returns `redirect_to`. */
export async function adminPut(admin: string, path: string, body: unknown): Promise<string> {
  const res = await fetch(`${admin}${path}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = (await res.json()) as { redirect_to?: string };
  if (res.status !== 200 || json.redirect_to === undefined) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json.redirect_to;
}

/**
 * Follows redirects from `start` until one leaves for `stopAt` (the client's redirect URI), handing login
 * and consent challenges to the driver. Returns the final URL (with `code`, or `error`).
 */
export async function followFlow(start: URL | string, stopAt: string, driver: FlowDriver, jar: CookieJar = new CookieJar()): Promise<URL> {
  let url = new URL(start);
  for (let hop = 0; hop < 25; hop++) {
    if (url.href.startsWith(stopAt)) return url;
    const login = url.searchParams.get("login_challenge");
    const consent = url.searchParams.get("consent_challenge");
    if (url.href.startsWith(UNUSED_APP) && login !== null) {
      if (driver.onLogin === undefined) throw new Error("unexpected login challenge");
      url = new URL(await driver.onLogin(login));
      continue;
    }
    if (url.href.startsWith(UNUSED_APP) && consent !== null) {
      if (driver.onConsent === undefined) throw new Error("unexpected consent challenge");
      url = new URL(await driver.onConsent(consent));
      continue;
    }
    const res = await fetch(url, { redirect: "manual", headers: { cookie: jar.header() } });
    jar.store(res);
    const location = res.headers.get("location");
    if (location === null) {
      const text = await res.text();
      const main = text.indexOf("<main>");
      throw new Error(`expected a redirect from ${url.href}, got ${res.status}: ${text.slice(main < 0 ? 0 : main, (main < 0 ? 0 : main) + 600)}`);
    }
    url = new URL(location, url);
  }
  throw new Error("too many redirects");
}
