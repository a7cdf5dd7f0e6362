/**
 * The checker's per-node state in one open-addressing hash table, so opening a node costs one probe and no
 * allocation: the memo (per subject), and the per-check path flag and union-only visit depth.
 *
 * A node key is `(object, relation * 2048 + type)`: two int32 columns instead of the packed double
 * `object * 4194304 + relation * 2048 + type`, which is the same key without boxing a double per lookup.
 * Clearing is O(1): slots carry the generation that filled them, and the per-check fields the check number
 * that last touched them.
 */
const EMPTY_SEEN = -2147483648;

export class NodeTable {
  keyObject: Int32Array;
  keyLow: Int32Array;
  private filled: Int32Array;
  /** Memo: the depth a stored result needs, -1 when there is none. */
  memoNeeded: Int32Array;
  memoValue: Uint8Array;
  /** The check (see `beginCheck`) whose path and visit fields the slot holds. */
  private touched: Int32Array;
  onPath: Uint8Array;
  /** Union-only checks: the most depth the node was opened with in this check, or EMPTY_SEEN. */
  visited: Int32Array;
  private mask: number;
  private size = 0;
  private generation = 1;
  private check = 1;
  /** Bumped whenever slots move (growth), so holders of slot numbers can re-find them. */
  layout = 0;

  constructor(capacity = 1024) {
    this.keyObject = new Int32Array(capacity);
    this.keyLow = new Int32Array(capacity);
    this.filled = new Int32Array(capacity);
    this.memoNeeded = new Int32Array(capacity);
    this.memoValue = new Uint8Array(capacity);
    this.touched = new Int32Array(capacity);
    this.onPath = new Uint8Array(capacity);
    this.visited = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  /** Forgets everything (a new subject or revision). */
  clear(): void {
    this.size = 0;
    if (++this.generation === 0x7fffffff) {
      this.filled.fill(0);
      this.generation = 1;
    }
  }

  /** Starts a check: every path flag and visit depth reads as unset. */
  beginCheck(): void {
    if (++this.check === 0x7fffffff) {
      this.touched.fill(0);
      this.check = 1;
    }
  }

  /** The slot of a node key, inserting it (empty memo, off the path, unvisited) when absent. */
  slot(object: number, low: number): number {
    let mask = this.mask;
    let i = hash(object, low) & mask;
    const gen = this.generation;
    for (;;) {
      if (this.filled[i] !== gen) break;
      if (this.keyObject[i] === object && this.keyLow[i] === low) return this.touch(i);
      i = (i + 1) & mask;
    }
    if ((this.size + 1) * 2 > mask + 1) {
      this.grow();
      mask = this.mask;
      i = hash(object, low) & mask;
      while (this.filled[i] === gen) i = (i + 1) & mask;
    }
    this.size++;
    this.filled[i] = gen;
    this.keyObject[i] = object;
    this.keyLow[i] = low;
    this.memoNeeded[i] = -1;
    this.touched[i] = this.check;
    this.onPath[i] = 0;
    this.visited[i] = EMPTY_SEEN;
    return i;
  }

  /** The slot of a key known to be present (after growth moved it). */
  find(object: number, low: number): number {
    const mask = this.mask;
    let i = hash(object, low) & mask;
    while (!(this.keyObject[i] === object && this.keyLow[i] === low && this.filled[i] === this.generation)) i = (i + 1) & mask;
    return i;
  }

  private touch(i: number): number {
    if (this.touched[i] !== this.check) {
      this.touched[i] = this.check;
      this.onPath[i] = 0;
      this.visited[i] = EMPTY_SEEN;
    }
    return i;
  }

  private grow(): void {
    const old = {
      keyObject: this.keyObject,
      keyLow: this.keyLow,
      filled: this.filled,
      memoNeeded: this.memoNeeded,
      memoValue: this.memoValue,
      touched: this.touched,
      onPath: this.onPath,
      visited: this.visited,
    };
    const capacity = old.filled.length * 2;
    this.keyObject = new Int32Array(capacity);
    this.keyLow = new Int32Array(capacity);
    this.filled = new Int32Array(capacity);
    this.memoNeeded = new Int32Array(capacity);
    this.memoValue = new Uint8Array(capacity);
    this.touched = new Int32Array(capacity);
    this.onPath = new Uint8Array(capacity);
    this.visited = new Int32Array(capacity);
    this.mask = capacity - 1;
    const gen = this.generation;
    for (let j = 0; j < old.filled.length; j++) {
      if (old.filled[j] !== gen) continue;
      const object = old.keyObject[j] as number;
      const low = old.keyLow[j] as number;
      let i = hash(object, low) & this.mask;
      while (this.filled[i] === gen) i = (i + 1) & this.mask;
      this.filled[i] = gen;
      this.keyObject[i] = object;
      this.keyLow[i] = low;
      this.memoNeeded[i] = old.memoNeeded[j] as number;
      this.memoValue[i] = old.memoValue[j] as number;
      this.touched[i] = old.touched[j] as number;
      this.onPath[i] = old.onPath[j] as number;
      this.visited[i] = old.visited[j] as number;
    }
    this.layout++;
  }
}

/** Whether `visited` holds a visit (see EMPTY_SEEN). */
export function wasVisited(seen: number): boolean {
  return seen !== EMPTY_SEEN;
}

function hash(object: number, low: number): number {
  let h = Math.imul(object ^ (object >>> 16), 0x45d9f3b) ^ Math.imul(low, 0x119de1f3);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return h ^ (h >>> 13);
}
