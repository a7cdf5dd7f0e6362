/**
 * Growable typed-array columns. The snapshot keeps its edges column-wise in typed arrays (not objects), so
 * the layout can later move into a SharedArrayBuffer for worker threads without a redesign.
 */

type NumberArray = Int32Array | Float64Array;

/** A growable column of numbers over one typed-array kind. */
class NumberColumn<A extends NumberArray> {
  private data: A;
  private size = 0;

  constructor(private readonly allocate: (length: number) => A) {
    this.data = allocate(64);
  }

  /** Number of values. */
  get length(): number {
    return this.size;
  }

  /** Appends a value and returns its index. */
  push(value: number): number {
    if (this.size === this.data.length) {
      const bigger = this.allocate(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.size] = value;
    return this.size++;
  }

  /** The value at `index` (callers only pass indexes they got from `push`). */
  get(index: number): number {
    return this.data[index] as number;
  }

  /** Overwrites the value at `index`. */
  set(index: number, value: number): void {
    this.data[index] = value;
  }
}

/** A growable `Int32Array`, for interned ids and edge links. */
export class Int32Column extends NumberColumn<Int32Array> {
  constructor() {
    super((length) => new Int32Array(length));
  }
}

/** A growable `Float64Array`, for revisions (`Infinity` = not removed). */
export class Float64Column extends NumberColumn<Float64Array> {
  constructor() {
    super((length) => new Float64Array(length));
  }
}
