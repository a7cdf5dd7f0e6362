/**
 * Gatehouse's Prometheus metrics, on a registry of their own (never prom-client's global one, so servers in
 * one process — tests, embedding apps — don't collide or double count):
 * - `gatehouse_rpc_requests_total{plane, protocol, method, code}`: finished calls and REST requests;
 * - `gatehouse_rpc_duration_seconds{plane, protocol, method}`: their durations, 100 µs to 10 s;
 * - `gatehouse_snapshot_revision_lag`: how many revisions the serving snapshot is behind the store's head,
 *   asked of a callback on each scrape (only registered when one is given);
 * - the evaluation path, read from `engineStats` on each scrape when given: the check cache
 *   (`gatehouse_check_cache_{hits,misses}_total`, `_entries`, `_bytes`), batching and the worker pool
 *   (`gatehouse_evaluator_queue_depth`, `_batches_total`, `_batched_checks_total` — their ratio is the mean
 *   batch size —, `_largest_batch`, `_coalesced_checks_total`, `_worker_retries_total`,
 *   `_worker_failures_total`) and the snapshot (`gatehouse_snapshot_revision`, `_horizon_revision`,
 *   `_tuple_versions`, `_shared_bytes`);
 * - prom-client's default process metrics (`process_*`, `nodejs_*`), unless turned off.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { PermissionEngineStats } from "../../engine/permission-engine.js";
import type { ReplicationStats } from "../../engine/replication/changelog-tailer.js";

/** The wire protocol a call came in on. REST is Keto's plain HTTP API and the health endpoints. */
export type RpcProtocol = "grpc" | "connect" | "grpc-web" | "rest";

/** Reports how far the serving snapshot lags the store's head revision (0 when caught up). */
export type RevisionLag = () => Promise<number> | number;

/** Options for `createServerMetrics`. */
export interface ServerMetricsOptions {
  /** The registry to add to. Default: a new one. */
  registry?: Registry;
  /** Feeds `gatehouse_snapshot_revision_lag`, asked on each scrape. Without it that gauge is left out. */
  revisionLag?: RevisionLag;
  /** The engine's counters (cache, batching, pool, snapshot), read on each scrape. */
  engineStats?: () => PermissionEngineStats;
  /** Replication counters of a cluster node, read on each scrape (absent on a single embedded node). */
  replicationStats?: () => ReplicationStats;
  /**
   * Adds prom-client's default process metrics to the registry. Default true. They install process-wide
   * observers (event loop delay, GC) that live as long as the process, so short-lived servers turn them off.
   */
  processMetrics?: boolean;
}

/** One finished call or request, as the metrics count it. */
export interface RequestRecord {
  plane: string;
  protocol: RpcProtocol;
  /** `/<service>/<Method>` for RPCs, `<HTTP method> <route>` for REST. */
  method: string;
  /** The gRPC code name ("OK", "INVALID_ARGUMENT", …) for RPCs, the HTTP status ("200", …) for REST. */
  code: string;
  seconds: number;
}

/** The metrics of one Gatehouse server (one or more planes), and the registry they live on. */
export interface ServerMetrics {
  readonly registry: Registry;
  /** Counts a finished request and observes its duration. */
  record(request: RequestRecord): void;
}

/** Request duration buckets in seconds: 100 µs (a cached check) up to 10 s (a large listing or a stall). */
export const durationBuckets: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Creates the metrics on a registry (a new one unless given). */
export function createServerMetrics(options: ServerMetricsOptions = {}): ServerMetrics {
  const registry = options.registry ?? new Registry();
  const requests = new Counter({
    name: "gatehouse_rpc_requests_total",
    help: "RPCs and REST requests finished, by plane, protocol, method and status code.",
    labelNames: ["plane", "protocol", "method", "code"] as const,
    registers: [registry],
  });
  const durations = new Histogram({
    name: "gatehouse_rpc_duration_seconds",
    help: "How long RPCs and REST requests took, from arrival to their last byte or status.",
    labelNames: ["plane", "protocol", "method"] as const,
    buckets: [...durationBuckets],
    registers: [registry],
  });
  const revisionLag = options.revisionLag;
  if (revisionLag !== undefined) {
    new Gauge({
      name: "gatehouse_snapshot_revision_lag",
      help: "Revisions the serving snapshot is behind the store's head revision (0 when caught up).",
      registers: [registry],
      async collect() {
        try {
          this.set(await revisionLag());
        } catch {
          // A failing callback must not fail the whole scrape; an absent sample says "unknown".
          this.reset();
        }
      },
    });
  }
  if (options.engineStats !== undefined) registerEngineMetrics(registry, options.engineStats);
  if (options.replicationStats !== undefined) registerReplicationMetrics(registry, options.replicationStats);
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  // Labelled children by label values: prom-client hashes the label object on every call otherwise, and
  // this runs once per request on the hot path. The label sets are bounded (see `RouteLabels`).
  const counters = new Map<string, Counter.Internal>();
  const histograms = new Map<string, Histogram.Internal<"plane" | "protocol" | "method">>();
  return {
    registry,
    record({ plane, protocol, method, code, seconds }) {
      const series = `${plane}\n${protocol}\n${method}`;
      let histogram = histograms.get(series);
      if (histogram === undefined) {
        histogram = durations.labels({ plane, protocol, method });
        histograms.set(series, histogram);
      }
      histogram.observe(seconds);
      const counterKey = `${series}\n${code}`;
      let counter = counters.get(counterKey);
      if (counter === undefined) {
        counter = requests.labels({ plane, protocol, method, code });
        counters.set(counterKey, counter);
      }
      counter.inc();
    },
  };
}

/**
 * Caps the distinct REST route labels, since REST handlers may answer paths with ids in them: the first
 * `limit` distinct routes keep their own label, later ones are counted as "other".
 */
export class RouteLabels {
  private readonly seen = new Set<string>();

  constructor(private readonly limit = 100) {}

  /** The label for a route. */
  labelOf(route: string): string {
    if (this.seen.has(route)) return route;
    if (this.seen.size >= this.limit) return "other";
    this.seen.add(route);
    return route;
  }
}

/** Gauges and counters that read the engine's stats on each scrape. */
function registerEngineMetrics(registry: Registry, stats: () => PermissionEngineStats): void {
  // Each metric reads the stats itself: they are a handful of counters, cheaper than coordinating a scrape.
  const current = stats;
  const gauge = (name: string, help: string, read: (s: PermissionEngineStats) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(current()));
      },
    });
  };
  const counter = (name: string, help: string, read: (s: PermissionEngineStats) => number): void => {
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        // The engine keeps running totals; a counter only moves forward by the difference.
        const total = read(current());
        if (total > reported) this.inc(total - reported);
        reported = total;
      },
    });
  };
  counter("gatehouse_check_cache_hits_total", "Checks answered from the result cache.", (s) => s.cache.hits);
  counter("gatehouse_check_cache_misses_total", "Checks the result cache could not answer.", (s) => s.cache.misses);
  gauge("gatehouse_check_cache_entries", "Answers held by the check-result cache.", (s) => s.cache.entries);
  gauge("gatehouse_check_cache_bytes", "Estimated bytes held by the check-result cache.", (s) => s.cache.bytes);
  gauge(
    "gatehouse_evaluator_queue_depth",
    "Checks waiting for an evaluator: queued on the main thread plus tasks queued for a worker.",
    (s) => s.batching.pending + (s.pool?.queued ?? 0),
  );
  counter("gatehouse_evaluator_batches_total", "Micro-batches of checks sent to evaluator workers.", (s) => s.batching.batches);
  counter("gatehouse_evaluator_batched_checks_total", "Checks sent to evaluator workers in micro-batches.", (s) => s.batching.batchedChecks);
  gauge("gatehouse_evaluator_largest_batch", "The largest micro-batch sent to a worker so far.", (s) => s.batching.largestBatch);
  counter("gatehouse_evaluator_coalesced_checks_total", "Checks that joined an identical in-flight check.", (s) => s.batching.coalesced);
  counter("gatehouse_evaluator_worker_retries_total", "Batches retried after a worker failed.", (s) => s.pool?.retriedTasks ?? 0);
  counter("gatehouse_evaluator_worker_failures_total", "Batches that failed twice and were answered UNAVAILABLE.", (s) => s.pool?.failedTasks ?? 0);
  gauge("gatehouse_snapshot_revision", "The revision the in-memory snapshot has applied.", (s) => s.revision);
  gauge("gatehouse_snapshot_horizon_revision", "The oldest revision the snapshot can still read.", (s) => s.horizon);
  gauge("gatehouse_snapshot_tuple_versions", "Tuple versions held by the snapshot (live and history).", (s) => s.snapshot.edgeVersions);
  gauge("gatehouse_snapshot_shared_bytes", "Bytes of the snapshot's shared tables.", (s) => s.snapshot.sharedBytes);
  counter("gatehouse_snapshot_rebuilds_total", "Full snapshot rebuilds after falling behind the changelog horizon.", (s) => s.rebuilds);
}

/** Counters only move forward: report the growth of a running total since the last scrape. */
function advance(counter: Counter.Internal | Counter, reported: Map<string, number>, key: string, total: number): void {
  const before = reported.get(key) ?? 0;
  if (total > before) counter.inc(total - before);
  reported.set(key, total);
}

function registerReplicationMetrics(registry: Registry, stats: () => ReplicationStats): void {
  new Gauge({
    name: "gatehouse_replication_applied_revision",
    help: "The revision this node has applied from the shared changelog.",
    registers: [registry],
    collect() {
      this.set(stats().appliedRevision);
    },
  });
  new Gauge({
    name: "gatehouse_replication_announced_revision",
    help: "The newest revision a change notification announced to this node.",
    registers: [registry],
    collect() {
      this.set(stats().announcedRevision);
    },
  });
  new Gauge({
    name: "gatehouse_replication_polling_fallback",
    help: "1 while no change-notification source is healthy and the node polls the store instead.",
    registers: [registry],
    collect() {
      this.set(stats().pollingFallback ? 1 : 0);
    },
  });
  new Gauge({
    name: "gatehouse_replication_source_up",
    help: "Whether a change-notification source (postgres, redis) is delivering.",
    labelNames: ["source"] as const,
    registers: [registry],
    collect() {
      for (const source of stats().sources) this.set({ source: source.name }, source.healthy ? 1 : 0);
    },
  });
  // Per-source running totals become counters that move by their growth since the last scrape.
  const perSource = (name: string, help: string, read: (source: ReplicationStats["sources"][number]) => number): void => {
    const seen = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames: ["source"] as const,
      registers: [registry],
      collect() {
        for (const source of stats().sources) advance(this.labels({ source: source.name }), seen, source.name, read(source));
      },
    });
  };
  perSource("gatehouse_replication_source_failures_total", "Times a change-notification source went down.", (s) => s.failures);
  perSource("gatehouse_replication_notifications_total", "Change notifications received, by source.", (s) => s.notifications);
  const catchUpFailuresSeen = new Map<string, number>();
  new Counter({
    name: "gatehouse_replication_catch_up_failures_total",
    help: "Catch-ups with the store that failed (store unreachable); they are retried.",
    registers: [registry],
    collect() {
      advance(this, catchUpFailuresSeen, "", stats().catchUpFailures);
    },
  });
}
