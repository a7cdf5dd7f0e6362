/**
 * The three servers of figure group 8, each started in-process by `server-host.ts` (one child process per
 * server):
 * - `noop`: a bare `node:http` server that reads the request body and answers a fixed JSON body of about the
 *   size of a token response (the ceiling: HTTP and the load generator, no OAuth2 work);
 * - `peer`: the plain oidc-provider of `peer.ts`;
 * - `gatehouse`: `startOAuth2Planes` with production settings (25,000 PBKDF2 iterations for the client
 *   secret, the default key polling), its client registered through `POST /admin/clients`.
 * Both OAuth2 sides open their own store of the same kind: memory, or PGlite in memory (`memory://`).
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createSecretVerifier, generateClientSecret, hashClientSecret } from "../../services/oauth2/clients/client-secrets.js";
import { createOpaqueTokens } from "../../services/oauth2/keys/opaque-tokens.js";
import { systemSecretsFrom } from "../../services/oauth2/keys/system-secrets.js";
import { startOAuth2Planes } from "../../services/oauth2/oauth2-service.js";
import { createMemoryOAuth2Store } from "../../services/oauth2/store/memory-oauth2-store.js";
import type { OAuth2Store } from "../../services/oauth2/store/oauth2-store.js";
import { createPgliteOAuth2Store } from "../../services/oauth2/store/pglite-oauth2-store.js";
import { startPeer } from "./peer.js";

export type SideName = "noop" | "peer" | "gatehouse";
export const SIDE_NAMES: readonly SideName[] = ["noop", "peer", "gatehouse"];
export type StoreKind = "memory" | "pglite";
export const STORE_KINDS: readonly StoreKind[] = ["memory", "pglite"];

/** The scope the client is registered for and requests. */
export const BENCH_SCOPE = "read";

/** What the load generator needs to know about a started server (sent from the host as JSON). */
export interface SideInfo {
  readonly side: SideName;
  readonly store: StoreKind | "none";
  /** Token endpoint (the no-op answers any path). */
  readonly tokenUrl: string;
  /** Client-authenticated RFC 7662 introspection. */
  readonly introspectUrl: string;
  /** Hydra's admin introspection (Gatehouse only). */
  readonly adminIntrospectUrl?: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/** A started side. */
export interface StartedSide {
  readonly info: SideInfo;
  close(): Promise<void>;
}

/** The no-op's answer: a token-response-sized JSON body, built once. */
const NOOP_BODY = Buffer.from(
  JSON.stringify({ access_token: `gh_at_${"a".repeat(43)}.${"b".repeat(43)}`, expires_in: 3599, scope: BENCH_SCOPE, token_type: "Bearer", active: true }),
);

async function openStore(kind: StoreKind): Promise<OAuth2Store> {
  return kind === "memory" ? createMemoryOAuth2Store() : createPgliteOAuth2Store({ dataDir: "memory://" });
}

async function startNoop(): Promise<StartedSide> {
  const server = createServer((req, res) => {
    // Drain the form body as a real endpoint must, then the fixed answer.
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": NOOP_BODY.length, "cache-control": "no-store" });
      res.end(NOOP_BODY);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    info: { side: "noop", store: "none", tokenUrl: `${base}/noop`, introspectUrl: `${base}/noop`, clientId: "noop", clientSecret: "noop" },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function startPeerSide(kind: StoreKind): Promise<StartedSide> {
  const store = await openStore(kind);
  const clientSecret = generateClientSecret();
  const peer = await startPeer({
    store,
    tokens: createOpaqueTokens({ secrets: systemSecretsFrom([randomBytes(32).toString("base64url")], "generated") }),
    verifier: createSecretVerifier(),
    // The same hash the admin API stores (Hydra's default 25,000 iterations).
    client: { clientId: "bench-peer", secretHash: await hashClientSecret(clientSecret), scope: BENCH_SCOPE },
  });
  return {
    info: {
      side: "peer",
      store: kind,
      tokenUrl: `${peer.base}${peer.tokenPath}`,
      introspectUrl: `${peer.base}${peer.introspectionPath}`,
      clientId: "bench-peer",
      clientSecret,
    },
    async close() {
      await peer.close();
      await store.close();
    },
  };
}

async function startGatehouseSide(kind: StoreKind): Promise<StartedSide> {
  const store = await openStore(kind);
  const planes = await startOAuth2Planes({
    store,
    public: { host: "127.0.0.1", port: 0 },
    admin: { host: "127.0.0.1", port: 0 },
    // Nothing listens there: the client-credentials grant never sends a browser to the apps.
    urls: () => ({ login: "http://127.0.0.1:9/login", consent: "http://127.0.0.1:9/consent", logout: "http://127.0.0.1:9/logout" }),
    accounts: async () => undefined,
    log: (line) => process.stderr.write(`gatehouse: ${line}\n`),
    shutdownTimeoutMillis: 100,
  });
  const admin = `http://127.0.0.1:${planes.ports.admin}`;
  const res = await fetch(`${admin}/admin/clients`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_id: "bench-gatehouse",
      grant_types: ["client_credentials"],
      response_types: [],
      scope: BENCH_SCOPE,
      token_endpoint_auth_method: "client_secret_basic",
    }),
  });
  const created = (await res.json()) as { client_id?: string; client_secret?: string };
  if (res.status !== 201 || created.client_id === undefined || created.client_secret === undefined) {
    throw new Error(`registering the bench client failed: ${res.status} ${JSON.stringify(created)}`);
  }
  return {
    info: {
      side: "gatehouse",
      store: kind,
      tokenUrl: `${planes.issuer}/oauth2/token`,
      introspectUrl: `${planes.issuer}/oauth2/introspect`,
      adminIntrospectUrl: `${admin}/admin/oauth2/introspect`,
      clientId: created.client_id,
      clientSecret: created.client_secret,
    },
    async close() {
      await planes.close();
      await store.close();
    },
  };
}

/** Starts one side in this process. */
export async function startSide(side: SideName, store: StoreKind): Promise<StartedSide> {
  if (side === "noop") return startNoop();
  if (side === "peer") return startPeerSide(store);
  return startGatehouseSide(store);
}
