/**
 * When each revision became visible on this node, so reads can be pinned by time: `minimize_latency` reads
 * at a *quantized* revision (the head as of the last quantum boundary, so concurrent requests share cache
 * entries, as Zanzibar and SpiceDB do), and the snapshot's history is kept for a retention window of time.
 */
import type { Revision } from "../store/tuple-store.js";

/**
 * Marks closer together than this are merged into the earlier one (which then names the later revision), so
 * a node applying thousands of writes a second keeps a bounded record. A merged mark can only make a read
 * fresher, never staler.
 */
const MERGE_MS = 10;

/** A bounded record of (time, head revision) marks, oldest first. */
export class RevisionClock {
  private times: number[] = [];
  private revisions: Revision[] = [];
  private boundary = Number.NaN;
  private quantum = Number.NaN;
  private boundaryRevision: Revision | undefined;

  constructor(
    /** How long marks are kept (at least the quantum and the retention window). */
    private readonly keepMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records that `revision` is the head from now on. */
  record(revision: Revision): void {
    const at = this.now();
    const last = this.revisions.length - 1;
    if (last >= 0 && (this.revisions[last] as Revision) >= revision) return;
    // Never into the first mark: it stands for the snapshot's build when the record starts inside a window.
    if (last > 0 && at - (this.times[last] as number) < MERGE_MS) this.revisions[last] = revision;
    else {
      this.times.push(at);
      this.revisions.push(revision);
    }
    // The answer for the current boundary may change only if this mark is not after it.
    if (at <= this.boundary) this.boundary = Number.NaN;
    this.prune(at - this.keepMs);
  }

  /** The head revision at time `time`, or undefined when the record starts later. */
  headAt(time: number): Revision | undefined {
    // The last mark at or before `time` (binary search; marks are in time order).
    let lo = 0;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.times[mid] as number) <= time) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : this.revisions[lo - 1];
  }

  /**
   * The revision `minimize_latency` reads at: the head at the start of the current `quantumMs` window, so
   * every read in the window shares it and no read trails the head by more than one quantum. Falls back to
   * the oldest recorded revision (the snapshot's build) when the record starts inside the window.
   */
  quantized(quantumMs: number): Revision | undefined {
    if (quantumMs <= 0) return this.revisions[this.revisions.length - 1];
    const now = this.now();
    const boundary = Math.floor(now / quantumMs) * quantumMs;
    if (boundary === this.boundary && quantumMs === this.quantum) return this.boundaryRevision;
    const revision = this.headAt(boundary) ?? this.revisions[0];
    // Cache per boundary: every read in the window asks the same question.
    this.boundary = boundary;
    this.quantum = quantumMs;
    this.boundaryRevision = revision;
    return revision;
  }

  /** Drops marks older than `cutoff`, keeping the newest of them: it names the head at the cutoff. */
  private prune(cutoff: number): void {
    let drop = 0;
    while (drop + 1 < this.times.length && (this.times[drop + 1] as number) <= cutoff) drop++;
    // Splicing costs O(marks); do it in chunks so pruning stays amortised O(1) per record.
    if (drop >= 64 || (drop > 0 && drop * 2 >= this.times.length)) {
      this.times = this.times.slice(drop);
      this.revisions = this.revisions.slice(drop);
    }
  }
}
