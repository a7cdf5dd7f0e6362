/**
 * JSON Web Key Sets for the `jwt` authenticator, one cache per gateway (per `PipelineDeps`), shared by every
 * rule naming the same URL. As Oathkeeper's credentials fetcher: a set is fresh for `jwks_ttl`; a request
 * waits at most `jwks_max_wait` for a (re)fetch, and only when that wait runs out may it use a stale set. A
 * `kid` missing from the fresh sets triggers a refetch (key rotation), at most once per second per URL so
 * tokens with made-up `kid`s cannot turn the gateway into a JWKS load generator.
 */
import { readFile } from "node:fs/promises";
import { resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import type { PipelineDeps } from "../deps.js";
import { UpstreamServiceError } from "../errors.js";
import { describeUrl } from "../outbound-http.js";
import { clockOf, isPlainObject } from "./shared.js";

/** Resolves the verification key for a JWS header (jose's `createLocalJWKSet`). */
export type KeySet = ReturnType<typeof createLocalJWKSet>;

export interface JwksLookup {
  readonly ttlMillis: number;
  readonly maxWaitMillis: number;
}

export interface JwksCache {
  /**
   * The key set of the first URL (in order) holding a signing key `kid`, or undefined when none does. Throws
   * `UpstreamServiceError` when no set could be read at all (every URL failing and nothing fresh).
   */
  keySetFor(urls: readonly string[], kid: string, lookup: JwksLookup): Promise<KeySet | undefined>;
}

/** The shortest time between two fetches of one URL. */
const MIN_REFETCH_INTERVAL_MILLIS = 1_000;

interface LoadedSet {
  readonly keySet: KeySet;
  readonly kids: ReadonlySet<string>;
}

interface Entry {
  loaded?: LoadedSet;
  fetchedAt: number;
  lastAttemptAt: number;
  lastError?: string | undefined;
  inflight?: Promise<void> | undefined;
}

const caches = new WeakMap<PipelineDeps, JwksCache>();

/** The gateway's JWKS cache (created on first use). */
export function jwksCacheOf(deps: PipelineDeps): JwksCache {
  let cache = caches.get(deps);
  if (cache === undefined) {
    cache = createJwksCache(deps);
    caches.set(deps, cache);
  }
  return cache;
}

/** The local path of a `file:` URL; `file://relative/path` (host part) is taken relative to the working directory. */
function filePathOf(url: URL): string {
  if (url.host !== "" && url.host !== "localhost") return resolvePath(decodeURIComponent(url.host + url.pathname));
  return fileURLToPath(url);
}

function createJwksCache(deps: PipelineDeps): JwksCache {
  const clock = clockOf(deps);
  const entries = new Map<string, Entry>();

  async function read(url: string): Promise<unknown> {
    const parsed = new URL(url);
    if (parsed.protocol === "file:") return JSON.parse(await readFile(filePathOf(parsed), "utf8")) as unknown;
    const response = await deps.http.send({ method: "GET", url, headers: { accept: "application/json" } });
    if (response.status < 200 || response.status >= 300) throw new Error(`answered HTTP ${response.status}`);
    return JSON.parse(response.body.toString("utf8")) as unknown;
  }

  async function load(url: string): Promise<LoadedSet> {
    const json = await read(url);
    // createLocalJWKSet checks the shape; it keeps its own snapshot and imported keys.
    const keySet = createLocalJWKSet(json as JSONWebKeySet);
    const kids = new Set<string>();
    for (const key of (json as { keys: unknown[] }).keys) {
      if (!isPlainObject(key) || typeof key["kid"] !== "string") continue;
      if (key["use"] !== undefined && key["use"] !== "sig") continue;
      kids.add(key["kid"]);
    }
    return { keySet, kids };
  }

  function entryOf(url: string): Entry {
    let entry = entries.get(url);
    if (entry === undefined) {
      entry = { fetchedAt: Number.NEGATIVE_INFINITY, lastAttemptAt: Number.NEGATIVE_INFINITY };
      entries.set(url, entry);
    }
    return entry;
  }

  function start(url: string, entry: Entry): Promise<void> {
    entry.lastAttemptAt = clock();
    entry.inflight = load(url)
      .then(
        (loaded) => {
          entry.loaded = loaded;
          entry.fetchedAt = clock();
          entry.lastError = undefined;
        },
        (err: unknown) => {
          entry.lastError = err instanceof Error ? err.message : String(err);
          deps.log(`jwt: could not read the JSON Web Key Set at ${describeUrl(url)}: ${entry.lastError}`);
        },
      )
      .finally(() => {
        entry.inflight = undefined;
      });
    return entry.inflight;
  }

  /** Resolves true when `work` did not finish within `millis`. */
  async function waitAtMost(work: Promise<unknown>, millis: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), millis);
        }),
      ]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  return {
    async keySetFor(urls, kid, lookup) {
      const isFresh = (entry: Entry) => entry.loaded !== undefined && clock() - entry.fetchedAt < lookup.ttlMillis;
      const find = (staleAcceptable: boolean): KeySet | undefined => {
        for (const url of urls) {
          const entry = entries.get(url);
          if (entry?.loaded === undefined || !(staleAcceptable || isFresh(entry))) continue;
          if (entry.loaded.kids.has(kid)) return entry.loaded.keySet;
        }
        return undefined;
      };

      const found = find(false);
      if (found !== undefined) return found;

      // Every URL without the kid in a fresh set is (re)fetched, unless it was tried less than a second ago.
      const pending: Promise<void>[] = [];
      for (const url of urls) {
        const entry = entryOf(url);
        if (entry.inflight !== undefined) pending.push(entry.inflight);
        else if (clock() - entry.lastAttemptAt >= MIN_REFETCH_INTERVAL_MILLIS) pending.push(start(url, entry));
      }
      if (pending.length > 0) {
        const timedOut = await waitAtMost(Promise.all(pending), lookup.maxWaitMillis);
        const afterFetch = find(timedOut);
        if (afterFetch !== undefined) return afterFetch;
      }

      const anyFresh = urls.some((url) => {
        const entry = entries.get(url);
        return entry !== undefined && isFresh(entry);
      });
      const failures = urls.flatMap((url) => {
        const error = entries.get(url)?.lastError;
        return error === undefined ? [] : [`${describeUrl(url)}: ${error}`];
      });
      if (!anyFresh) {
        const slow = urls.filter((url) => entries.get(url)?.inflight !== undefined).map((url) => `${describeUrl(url)}: no answer within ${lookup.maxWaitMillis} ms`);
        const problems = [...failures, ...slow];
        if (problems.length > 0) {
          throw new UpstreamServiceError(`jwt: no JSON Web Key Set could be read (${problems.join("; ")})`, { reason: "jwks_unavailable" });
        }
      }
      return undefined;
    },
  };
}
