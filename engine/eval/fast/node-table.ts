/**
 * The checker's per-node state in one open-addressing hash table, so opening a node costs one probe into one
 * 32-byte record and no allocation: the node's graph id (looked up once per checker, since its graph and
 * revision are fixed), the memo (valid for one subject), and the per-check path flag and union-only visit
 * depth.
 *
 * A node key is `(object, relation * 2048 + type)`: two int32 fields instead of the packed double
 * `object * 4194304 + relation * 2048 + type`, the same key without boxing a double per lookup. Forgetting
 * is O(1): records carry the subject their memo belongs to and the check that last touched their path fields.
 */

// Record fields (RECORD ints per slot); a slot is addressed by the offset of its record.
const KEY_OBJECT = 0;
/** `relation * 2048 + type` (never negative for a stored key), or EMPTY. */
const KEY_LOW = 1;
/** The node's graph id, -1 when it has none, UNKNOWN_NODE before the first lookup. */
export const GRAPH_NODE = 2;
const MEMO_SUBJECT = 3;
const MEMO_NEEDED = 4;
const TOUCHED = 5;
/** Union-only checks: the most depth the node was opened with in this check, or UNVISITED. */
export const VISITED = 6;
/** Bits 0-1: the memoized value; bit 2: on the current path. */
const BITS = 7;
const RECORD = 8;

const EMPTY = -1;
const ON_PATH = 4;
export const UNVISITED = -2147483648;
/** `GRAPH_NODE` of a node whose graph id was not looked up yet. */
export const UNKNOWN_NODE = -2;
/**
 * Past this many nodes the table starts over at the next subject, so a long batch cannot grow it forever.
 * Small on purpose: a table that stays in L2 saves more (every opened node probes it) than keeping graph ids
 * of earlier subjects' nodes saves (on a 1M-tuple graph 2^11 beat 2^14 by about 10%, 2^16 lost 15%).
 */
const MAX_SIZE = 1 << 11;

export class NodeTable {
  /** The records; replaced when the table grows (then `layout` changes). */
  cells: Int32Array<ArrayBuffer>;
  private mask: number;
  private size = 0;
  private subject = 1;
  private check = 1;
  /** Bumped whenever records move (growth, starting over), so holders of slots can find them again. */
  layout = 0;

  constructor(capacity = 256) {
    this.cells = new Int32Array(capacity * RECORD).fill(EMPTY);
    this.mask = capacity - 1;
  }

  /** Forgets every memoized result (a new subject, or deciding a check afresh). */
  nextSubject(): void {
    if (this.size > MAX_SIZE) {
      this.size = 0;
      this.layout++;
      for (let at = KEY_LOW; at < this.cells.length; at += RECORD) this.cells[at] = EMPTY;
    }
    if (++this.subject === 0x7fffffff) {
      for (let at = MEMO_SUBJECT; at < this.cells.length; at += RECORD) this.cells[at] = 0;
      this.subject = 1;
    }
  }

  /** Starts a check: every path flag and visit depth reads as unset. */
  beginCheck(): void {
    if (++this.check === 0x7fffffff) {
      for (let at = TOUCHED; at < this.cells.length; at += RECORD) this.cells[at] = 0;
      this.check = 1;
    }
  }

  /** The slot of a node key, inserting it (unknown graph id, no memo, off the path, unvisited) when absent. */
  slot(object: number, low: number): number {
    let cells = this.cells;
    let mask = this.mask;
    let i = hash(object, low) & mask;
    for (;;) {
      const at = i * RECORD;
      const key = cells[at + KEY_LOW] as number;
      if (key === EMPTY) break;
      if (key === low && cells[at + KEY_OBJECT] === object) {
        if (cells[at + TOUCHED] !== this.check) {
          cells[at + TOUCHED] = this.check;
          cells[at + BITS] = (cells[at + BITS] as number) & ~ON_PATH;
          cells[at + VISITED] = UNVISITED;
        }
        return at;
      }
      i = (i + 1) & mask;
    }
    if ((this.size + 1) * 2 > mask + 1) {
      this.grow();
      cells = this.cells;
      mask = this.mask;
      i = hash(object, low) & mask;
      while (cells[i * RECORD + KEY_LOW] !== EMPTY) i = (i + 1) & mask;
    }
    this.size++;
    const at = i * RECORD;
    cells[at + KEY_OBJECT] = object;
    cells[at + KEY_LOW] = low;
    cells[at + GRAPH_NODE] = UNKNOWN_NODE;
    cells[at + MEMO_SUBJECT] = 0;
    cells[at + TOUCHED] = this.check;
    cells[at + VISITED] = UNVISITED;
    cells[at + BITS] = 0;
    return at;
  }

  /** The slot of a key known to be present (after growth moved it). */
  find(object: number, low: number): number {
    const { cells, mask } = this;
    let i = hash(object, low) & mask;
    while (!(cells[i * RECORD + KEY_LOW] === low && cells[i * RECORD + KEY_OBJECT] === object)) i = (i + 1) & mask;
    return i * RECORD;
  }

  /** The memoized result's needed depth, or -1 when the slot has none for the current subject. */
  memoNeeded(at: number): number {
    return this.cells[at + MEMO_SUBJECT] === this.subject ? (this.cells[at + MEMO_NEEDED] as number) : -1;
  }

  /** The memoized value (valid when `memoNeeded` is not -1). */
  memoValue(at: number): number {
    return (this.cells[at + BITS] as number) & 3;
  }

  memoize(at: number, value: number, needed: number): void {
    const cells = this.cells;
    cells[at + MEMO_SUBJECT] = this.subject;
    cells[at + MEMO_NEEDED] = needed;
    cells[at + BITS] = ((cells[at + BITS] as number) & ~3) | value;
  }

  onPath(at: number): boolean {
    return ((this.cells[at + BITS] as number) & ON_PATH) !== 0;
  }

  setOnPath(at: number, on: boolean): void {
    const bits = this.cells[at + BITS] as number;
    this.cells[at + BITS] = on ? bits | ON_PATH : bits & ~ON_PATH;
  }

  private grow(): void {
    const old = this.cells;
    const capacity = (this.mask + 1) * 2;
    const cells = new Int32Array(capacity * RECORD).fill(EMPTY);
    const mask = capacity - 1;
    for (let from = 0; from < old.length; from += RECORD) {
      const low = old[from + KEY_LOW] as number;
      if (low === EMPTY) continue;
      let i = hash(old[from + KEY_OBJECT] as number, low) & mask;
      while (cells[i * RECORD + KEY_LOW] !== EMPTY) i = (i + 1) & mask;
      cells.set(old.subarray(from, from + RECORD), i * RECORD);
    }
    this.cells = cells;
    this.mask = mask;
    this.layout++;
  }
}

function hash(object: number, low: number): number {
  let h = Math.imul(object ^ (object >>> 16), 0x45d9f3b) ^ Math.imul(low, 0x119de1f3);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return h ^ (h >>> 13);
}
