/**
 * When each revision became visible on this node, so reads can be pinned by time: `minimize_latency` reads
 * at a *quantized* revision (the head as of the last quantum boundary, so concurrent requests share cache
 * entries, as Zanzibar and SpiceDB do), and the snapshot's history is kept for a retention window of time.
 */
import type { Revision } from "../store/tuple-store.js";

interface Mark {
  readonly at: number;
  readonly revision: Revision;
}

/** A bounded record of (time, head revision) marks, oldest first. */
export class RevisionClock {
  private readonly marks: Mark[] = [];

  constructor(
    /** How long marks are kept (at least the quantum and the retention window). */
    private readonly keepMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records that `revision` is the head from now on. */
  record(revision: Revision): void {
    const at = this.now();
    const last = this.marks[this.marks.length - 1];
    if (last !== undefined && last.revision >= revision) return;
    this.marks.push({ at, revision });
    // Keep one mark older than the window: it says which revision was the head at the window's start.
    const cutoff = at - this.keepMs;
    let drop = 0;
    while (drop + 1 < this.marks.length && (this.marks[drop + 1] as Mark).at <= cutoff) drop++;
    if (drop > 0) this.marks.splice(0, drop);
  }

  /** The head revision at time `time`, or undefined when the record starts later. */
  headAt(time: number): Revision | undefined {
    let found: Revision | undefined;
    for (const mark of this.marks) {
      if (mark.at > time) break;
      found = mark.revision;
    }
    return found;
  }

  /**
   * The revision `minimize_latency` reads at: the head at the start of the current `quantumMs` window, so
   * every read in the window shares it and no read trails the head by more than one quantum. Falls back to
   * the oldest recorded revision (the snapshot's build) when the record starts inside the window.
   */
  quantized(quantumMs: number): Revision | undefined {
    const now = this.now();
    if (quantumMs <= 0) return this.marks[this.marks.length - 1]?.revision;
    const boundary = Math.floor(now / quantumMs) * quantumMs;
    return this.headAt(boundary) ?? this.marks[0]?.revision;
  }
}
