/**
 * Growable typed-array columns. The snapshot keeps its edges column-wise in typed arrays (not objects), so
 * the layout can later move into a SharedArrayBuffer for worker threads without a redesign.
 */

/** A growable `Int32Array`. */
export class Int32Column {
  private data = new Int32Array(64);
  private size = 0;

  /** Number of values. */
  get length(): number {
    return this.size;
  }

  /** Appends a value and returns its index. */
  push(value: number): number {
    if (this.size === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
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

/** A growable `Float64Array`, for revisions (`Infinity` = not removed). */
export class Float64Column {
  private data = new Float64Array(64);
  private size = 0;

  /** Number of values. */
  get length(): number {
    return this.size;
  }

  /** Appends a value and returns its index. */
  push(value: number): number {
    if (this.size === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.size] = value;
    return this.size++;
  }

  /** The value at `index`. */
  get(index: number): number {
    return this.data[index] as number;
  }

  /** Overwrites the value at `index`. */
  set(index: number, value: number): void {
    this.data[index] = value;
  }
}
