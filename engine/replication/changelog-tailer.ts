/**
 * Keeps a node's snapshot in step with the shared store: push sources (PostgreSQL LISTEN, a Redis stream)
 * wake it, a poll timer is the fallback (fast while no push source is healthy, a slow safety net
 * otherwise), and every wake is one coalesced `engine.catchUp()`, which reads the changelog in revision
 * order (or rebuilds the snapshot past the changelog horizon). The node's own commits are announced on the
 * sources that fan out.
 */
import type { PermissionEngine } from "../permission-engine.js";
import type { Revision } from "../store/tuple-store.js";
import type { ChangeSource, ChangeSourceEvents } from "./change-source.js";

/** Options of `ChangelogTailer`. */
export interface ChangelogTailerOptions {
  readonly engine: PermissionEngine;
  /** Builds the push sources given the events they report to (none: polling only). */
  readonly sources?: readonly ((events: ChangeSourceEvents) => ChangeSource)[];
  /** Poll interval while no push source is healthy. */
  readonly pollIntervalMillis: number;
  /** Poll interval while a push source is healthy (a safety net for lost notifications). Default 10× the other, at least 5 s. */
  readonly safetyPollMillis?: number;
  /** Operational messages (a source going down or up). */
  readonly log?: (line: string) => void;
}

/** What the tailer reports to metrics and readiness. */
export interface ReplicationStats {
  /** The revision the node's snapshot has applied. */
  readonly appliedRevision: Revision;
  /** The newest revision a notification announced (0 before the first). */
  readonly announcedRevision: Revision;
  /** Each push source and whether it is healthy. */
  readonly sources: readonly { readonly name: string; readonly healthy: boolean; readonly failures: number; readonly notifications: number }[];
  /** True while no push source is healthy and polling carries replication alone. */
  readonly pollingFallback: boolean;
  readonly catchUps: number;
  readonly catchUpFailures: number;
  /** The error of the last catch-up, while the store stays unreachable. */
  readonly lastError: string | undefined;
}

/** Follows the changelog for one engine. */
export class ChangelogTailer {
  private readonly sources: ChangeSource[] = [];
  private readonly counts = new Map<string, { failures: number; notifications: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending = false;
  private stopped = false;
  private announced: Revision = 0;
  private catchUps = 0;
  private catchUpFailures = 0;
  private lastError: string | undefined;
  private wasFallback = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: ChangelogTailerOptions) {
    for (const make of options.sources ?? []) {
      let source: ChangeSource | undefined;
      const counts = { failures: 0, notifications: 0 };
      source = make({
        onRevision: (revision) => {
          counts.notifications++;
          if (revision > this.announced) this.announced = revision;
          if (revision > this.options.engine.revision) this.wake();
        },
        onStateChange: (up, reason) => {
          const name = source?.name ?? "source";
          if (up) {
            this.log(`${name} change notifications are flowing`);
            // Notifications sent while it was down are lost: catch up once now.
            this.wake();
          } else {
            counts.failures++;
            this.log(`${name} change notifications are down (${reason ?? "unknown"}); relying on ${this.fallbackDescription(name)}`);
          }
          this.reschedule();
        },
      });
      this.counts.set(source.name, counts);
      this.sources.push(source);
    }
    // Publish what this node commits, for sources that fan out (Redis).
    this.unsubscribe = options.engine.onCommit((revision) => {
      for (const source of this.sources) source.publish?.(revision);
    });
  }

  /** Starts the sources and the poll timer. */
  start(): void {
    for (const source of this.sources) source.start();
    this.reschedule();
  }

  /** Stops everything; a catch-up in progress finishes. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe();
    await Promise.all(this.sources.map((s) => s.close()));
    await this.running;
  }

  /** Counters and states for metrics and readiness. */
  stats(): ReplicationStats {
    return {
      appliedRevision: this.options.engine.revision,
      announcedRevision: this.announced,
      sources: this.sources.map((s) => ({ name: s.name, healthy: s.healthy, ...(this.counts.get(s.name) ?? { failures: 0, notifications: 0 }) })),
      pollingFallback: this.isFallback(),
      catchUps: this.catchUps,
      catchUpFailures: this.catchUpFailures,
      lastError: this.lastError,
    };
  }

  /** Catches up now (coalesced with one in progress); resolves when the node has applied the store's head or failed. */
  wake(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running !== undefined) {
      this.pending = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.pending = false;
        try {
          this.catchUps++;
          await this.options.engine.catchUp();
          if (this.lastError !== undefined) this.log("caught up with the store again");
          this.lastError = undefined;
        } catch (err) {
          this.catchUpFailures++;
          const message = err instanceof Error ? err.message : String(err);
          if (this.lastError === undefined) this.log(`catching up with the store failed: ${message}; retrying`);
          this.lastError = message;
        }
      } while (this.pending && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private isFallback(): boolean {
    return !this.sources.some((s) => s.healthy);
  }

  private fallbackDescription(down: string): string {
    const others = this.sources.filter((s) => s.name !== down && s.healthy).map((s) => `${s.name} notifications`);
    return [...others, `polling every ${this.pollInterval()} ms`].join(" and ");
  }

  private pollInterval(): number {
    if (this.isFallback()) return this.options.pollIntervalMillis;
    return this.options.safetyPollMillis ?? Math.max(5_000, this.options.pollIntervalMillis * 10);
  }

  /** (Re)arms the poll timer for the current state. */
  private reschedule(): void {
    if (this.stopped) return;
    const fallback = this.isFallback();
    if (fallback && !this.wasFallback && this.sources.length > 0) this.log(`no change notifications: polling the store every ${this.options.pollIntervalMillis} ms`);
    this.wasFallback = fallback;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.wake().then(() => this.reschedule());
    }, this.pollInterval());
    this.timer.unref();
  }

  private log(line: string): void {
    this.options.log?.(`replication: ${line}`);
  }
}
