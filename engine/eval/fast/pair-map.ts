/**
 * A small open-addressing map from a userset key `(object, relation * 2048 + type)` to an int, emptied in O(1)
 * by bumping a stamp (a slot counts only when its stamp is the current one). Used by the union-only fast path
 * for its per-check and per-subject searches and for its per-revision height memo.
 */

// Slot fields (SLOT ints per slot).
const OBJECT = 0;
const LOW = 1;
const VALUE = 2;
const STAMP = 3;
const SLOT = 4;

/** `get` of a key that is absent. */
export const ABSENT = -2147483648;

export class PairMap {
  private cells: Int32Array;
  private mask: number;
  private stamp = 1;
  size = 0;

  constructor(capacity = 64) {
    this.cells = new Int32Array(capacity * SLOT);
    this.mask = capacity - 1;
  }

  /** Forgets every key. */
  clear(): void {
    this.size = 0;
    if (++this.stamp === 0x7fffffff) {
      // Old stamps must never come back as current.
      this.cells.fill(0);
      this.stamp = 1;
    }
  }

  get(object: number, low: number): number {
    const { cells, mask, stamp } = this;
    for (let i = hash(object, low) & mask; ; i = (i + 1) & mask) {
      const at = i * SLOT;
      if (cells[at + STAMP] !== stamp) return ABSENT;
      if (cells[at + LOW] === low && cells[at + OBJECT] === object) return cells[at + VALUE] as number;
    }
  }

  set(object: number, low: number, value: number): void {
    let { cells, mask } = this;
    const stamp = this.stamp;
    let i = hash(object, low) & mask;
    for (; ; i = (i + 1) & mask) {
      const at = i * SLOT;
      if (cells[at + STAMP] !== stamp) break;
      if (cells[at + LOW] === low && cells[at + OBJECT] === object) {
        cells[at + VALUE] = value;
        return;
      }
    }
    if ((this.size + 1) * 2 > mask + 1) {
      this.grow();
      cells = this.cells;
      mask = this.mask;
      i = hash(object, low) & mask;
      while (cells[i * SLOT + STAMP] === stamp) i = (i + 1) & mask;
    }
    this.size++;
    const at = i * SLOT;
    cells[at + OBJECT] = object;
    cells[at + LOW] = low;
    cells[at + VALUE] = value;
    cells[at + STAMP] = stamp;
  }

  private grow(): void {
    const old = this.cells;
    const stamp = this.stamp;
    const capacity = (this.mask + 1) * 2;
    const cells = new Int32Array(capacity * SLOT);
    const mask = capacity - 1;
    for (let from = 0; from < old.length; from += SLOT) {
      if (old[from + STAMP] !== stamp) continue;
      let i = hash(old[from + OBJECT] as number, old[from + LOW] as number) & mask;
      while (cells[i * SLOT + STAMP] === stamp) i = (i + 1) & mask;
      cells.set(old.subarray(from, from + SLOT), i * SLOT);
    }
    this.cells = cells;
    this.mask = mask;
  }
}

function hash(object: number, low: number): number {
  let h = Math.imul(object ^ (object >>> 16), 0x45d9f3b) ^ Math.imul(low, 0x119de1f3);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return h ^ (h >>> 13);
}
