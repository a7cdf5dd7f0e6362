/**
 * What handlers are built with: the shared outbound HTTP client and credential cache, the permission checker
 * (in-process engine or a remote authz service), and the signer of the `id_token` mutator.
 */
import type { RelationTuple } from "../../../engine/tuple.js";
import type { CredentialCache } from "./credential-cache.js";
import type { OutboundHttp } from "./outbound-http.js";

/** Answers "is this tuple true?" against the authz engine (in-process, or over gRPC when apart). */
export interface PermissionChecker {
  check(tuple: RelationTuple): Promise<boolean>;
}

export interface PipelineDeps {
  readonly http: OutboundHttp;
  readonly cache: CredentialCache;
  /** Absent: the `permission` authorizer is refused at rule load. */
  readonly permissions?: PermissionChecker;
  /** Absent: the `id_token` mutator is refused at rule load. */
  readonly signingKeys?: SigningKeySource;
  /** Milliseconds since the epoch (tests move it). Default `Date.now`. */
  readonly now?: () => number;
  readonly log: (line: string) => void;
}

/** A private key the `id_token` mutator signs with. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly key: CryptoKey | import("node:crypto").KeyObject;
}

/** The `id_token` mutator's keys: from its `jwks_url` (file://, http(s)://), or the gateway's own set. */
export interface SigningKeySource {
  /** The key to sign with for a mutator configured with `jwksUrl` (undefined = the gateway's own set). */
  signingKey(jwksUrl: string | undefined): Promise<SigningKey>;
  /** Public keys of every key set used so far plus the gateway's own (`GET /.well-known/jwks.json`). */
  publicJwks(): Promise<{ keys: readonly Record<string, unknown>[] }>;
}
