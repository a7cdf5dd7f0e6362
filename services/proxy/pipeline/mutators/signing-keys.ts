/**
 * The keys the `id_token` mutator signs with: a private JWK set named by the mutator's `jwks_url`
 * (`file://`, `http(s)://` or Oathkeeper's `base64://`), or the gateway's own set when it names none. The
 * public halves of every set used so far are served at `/.well-known/jwks.json`, so upstreams verify the
 * tokens with one URL whichever rule minted them.
 *
 * Only asymmetric keys (RSA, EC, OKP) sign: an HMAC key could not be published for verification.
 */
import { readFile } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import type { SigningKey, SigningKeySource } from "../deps.js";
import { UpstreamServiceError } from "../errors.js";
import { describeUrl, type OutboundHttp } from "../outbound-http.js";

export interface SigningKeySourceOptions {
  readonly http: OutboundHttp;
  readonly log: (line: string) => void;
  /**
   * The gateway's own key set, used by mutators without `jwks_url`: generated once per process (ES256), or
   * read from a private JWK set file. Default "generate".
   */
  readonly ownKeys?: "generate" | { readonly jwksFile: string };
}

/** How often a key set fetched over HTTP is fetched again (key rotation at the source). */
const HTTP_REFRESH_MILLIS = 5 * 60_000;
/** After a failed refresh, the old set is kept and the fetch tried again this much later. */
const FAILED_REFRESH_RETRY_MILLIS = 30_000;

/** Members of a JWK that are private (RSA primes and exponents, EC/OKP `d`, symmetric `k`). */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

interface LoadedSet {
  readonly signing: SigningKey;
  readonly publicKeys: readonly Record<string, unknown>[];
}

interface SetEntry {
  current: LoadedSet | undefined;
  loading: Promise<LoadedSet> | undefined;
  /** For HTTP sets: when the set is fetched again (Date.now milliseconds). */
  refreshAt: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The algorithm a key signs with: its own `alg`, else the usual one for its type and curve. */
function algorithmOf(jwk: Record<string, unknown>): string | undefined {
  if (typeof jwk.alg === "string" && jwk.alg !== "") return jwk.alg;
  switch (jwk.kty) {
    case "RSA":
      return "RS256";
    case "EC":
      return jwk.crv === "P-256" ? "ES256" : jwk.crv === "P-384" ? "ES384" : jwk.crv === "P-521" ? "ES512" : undefined;
    case "OKP":
      return jwk.crv === "Ed25519" || jwk.crv === "Ed448" ? "EdDSA" : undefined;
    default:
      return undefined;
  }
}

function publicPartOf(jwk: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...jwk };
  for (const member of PRIVATE_MEMBERS) delete copy[member];
  return copy;
}

/** Where a set comes from, for messages; a `base64://` set is its own content and is not repeated. */
function describeSource(url: string): string {
  if (url.startsWith("base64://")) return "the base64:// key set";
  if (url.startsWith("file:")) return url;
  return describeUrl(url);
}

/** The signing key and public keys of a parsed JWK set. */
async function keySetOf(document: unknown, source: string): Promise<LoadedSet> {
  const fail = (problem: string): UpstreamServiceError =>
    new UpstreamServiceError(`the JSON Web Key Set at ${source} ${problem}`, { reason: "invalid_signing_keys" });
  if (!isObject(document) || !Array.isArray(document.keys)) throw fail('is not a JWK set (an object with a "keys" list)');
  let signing: SigningKey | undefined;
  const publicKeys: Record<string, unknown>[] = [];
  for (const [i, key] of document.keys.entries()) {
    if (!isObject(key)) throw fail(`has a key that is not an object (keys[${i}])`);
    if (key.kty !== "RSA" && key.kty !== "EC" && key.kty !== "OKP") continue;
    const alg = algorithmOf(key);
    const publicKey = publicPartOf(key);
    const kid = typeof key.kid === "string" && key.kid !== "" ? key.kid : await calculateJwkThumbprint(publicKey as JWK);
    publicKeys.push({ ...publicKey, kid, ...(alg === undefined ? {} : { alg }) });
    const forSigning = key.use === undefined || key.use === "sig";
    if (signing !== undefined || !forSigning || typeof key.d !== "string") continue;
    if (alg === undefined) throw fail(`has a private key "${kid}" without "alg" whose algorithm cannot be inferred`);
    let imported: Awaited<ReturnType<typeof importJWK>>;
    try {
      imported = await importJWK(key as JWK, alg);
    } catch (err) {
      throw new UpstreamServiceError(`the JSON Web Key Set at ${source} has a key "${kid}" that cannot be used with ${alg}: ${(err as Error).message}`, {
        reason: "invalid_signing_keys",
        cause: err,
      });
    }
    if (imported instanceof Uint8Array) throw fail(`has a symmetric key "${kid}", which cannot sign tokens others verify`);
    signing = { kid, alg, key: imported };
  }
  if (signing === undefined) throw fail('has no private key for signing (a key with "d" and "use" "sig" or no "use")');
  return { signing, publicKeys };
}

/** Reads the set at `url`: `file://`, `base64://` or `http(s)://`. */
async function fetchDocument(url: string, http: OutboundHttp): Promise<unknown> {
  const source = describeSource(url);
  let text: string;
  if (url.startsWith("file:")) {
    try {
      text = await readFile(fileURLToPath(url), "utf8");
    } catch (err) {
      throw new UpstreamServiceError(`cannot read the JSON Web Key Set at ${source}: ${(err as Error).message}`, {
        reason: "invalid_signing_keys",
        cause: err,
      });
    }
  } else if (url.startsWith("base64://")) {
    text = Buffer.from(url.slice("base64://".length), "base64").toString("utf8");
  } else {
    const res = await http.send({ method: "GET", url, headers: { accept: "application/json" } });
    if (res.status !== 200) {
      throw new UpstreamServiceError(`the JSON Web Key Set at ${source} answered ${res.status}, expected 200`, { reason: "invalid_signing_keys" });
    }
    text = res.body.toString("utf8");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UpstreamServiceError(`the JSON Web Key Set at ${source} is not JSON`, { reason: "invalid_signing_keys" });
  }
}

export function createSigningKeySource(options: SigningKeySourceOptions): SigningKeySource {
  const { http, log } = options;
  const ownKeys = options.ownKeys ?? "generate";
  const sets = new Map<string, SetEntry>();
  let own: Promise<LoadedSet> | undefined;

  async function generateOwn(): Promise<LoadedSet> {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const kid = randomUUID();
    const jwk = await exportJWK(publicKey);
    log(
      "proxy: the id_token mutator signs with a key generated for this process; tokens minted by one node " +
        "do not verify against another's keys, so in a cluster give every node the same jwks_url (or key file)",
    );
    return { signing: { kid, alg: "ES256", key: privateKey }, publicKeys: [{ ...jwk, kid, alg: "ES256", use: "sig" }] };
  }

  function ownSet(): Promise<LoadedSet> {
    if (own === undefined) {
      own =
        ownKeys === "generate"
          ? generateOwn()
          : (async () => {
              const url = pathToFileURL(resolve(ownKeys.jwksFile)).href;
              return keySetOf(await fetchDocument(url, http), url);
            })();
      // A failed load is tried again on the next use instead of failing every request for good.
      own.catch(() => (own = undefined));
    }
    return own;
  }

  function load(url: string, entry: SetEntry): Promise<LoadedSet> {
    if (entry.loading !== undefined) return entry.loading;
    const loading = fetchDocument(url, http).then((doc) => keySetOf(doc, describeSource(url)));
    entry.loading = loading;
    loading.then(
      (set) => {
        entry.current = set;
        entry.refreshAt = Date.now() + HTTP_REFRESH_MILLIS;
      },
      (err: unknown) => {
        if (entry.current === undefined) return;
        // A refresh failed: keep signing with the set we have and try again soon.
        entry.refreshAt = Date.now() + FAILED_REFRESH_RETRY_MILLIS;
        log(`proxy: refreshing the JSON Web Key Set at ${describeSource(url)} failed, keeping the previous keys: ${(err as Error).message}`);
      },
    ).finally(() => {
      entry.loading = undefined;
    });
    return loading;
  }

  async function setAt(url: string): Promise<LoadedSet> {
    let entry = sets.get(url);
    if (entry === undefined) {
      entry = { current: undefined, loading: undefined, refreshAt: Number.POSITIVE_INFINITY };
      sets.set(url, entry);
    }
    if (entry.current === undefined) return load(url, entry);
    const refreshes = url.startsWith("http:") || url.startsWith("https:");
    // A stale set is refreshed in the background; requests keep using the current keys meanwhile.
    if (refreshes && Date.now() >= entry.refreshAt) load(url, entry).catch(() => {});
    return entry.current;
  }

  return {
    async signingKey(jwksUrl) {
      return (jwksUrl === undefined ? await ownSet() : await setAt(jwksUrl)).signing;
    },
    async publicJwks() {
      const keys = [...(await ownSet()).publicKeys];
      for (const entry of sets.values()) if (entry.current !== undefined) keys.push(...entry.current.publicKeys);
      return { keys };
    },
  };
}

/** Whether `url` is a key set location the source can read (checked when rules load). */
export function isSupportedJwksUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return ["file:", "http:", "https:", "base64:"].includes(parsed.protocol);
  } catch {
    return false;
  }
}
