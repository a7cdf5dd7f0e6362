/**
 * A push source of "the store's head moved" (PostgreSQL LISTEN, a Redis stream). Sources only wake the
 * node; the changes themselves are always read from the store, in revision order, so a lost or duplicated
 * notification costs latency, never correctness.
 */
import type { Revision } from "../store/tuple-store.js";

/** What a source reports to its owner. */
export interface ChangeSourceEvents {
  /** A write committed this revision (possibly one this node already applied). */
  onRevision(revision: Revision): void;
  /** The source became usable (`up`) or stopped being usable (with why). */
  onStateChange(up: boolean, reason?: string): void;
}

/** A running push source. */
export interface ChangeSource {
  /** `postgres` or `redis`: the metric label and the name in logs. */
  readonly name: string;
  /** Whether notifications are flowing now. */
  readonly healthy: boolean;
  start(): void;
  close(): Promise<void>;
  /** Announces a revision this node committed (sources that fan out need it; PostgreSQL notifies by itself). */
  publish?(revision: Revision): void;
}
