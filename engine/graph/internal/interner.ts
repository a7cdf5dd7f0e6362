import { LimitExceededError } from "../../../common/errors.js";

/** Interns strings as small dense integers, so the graph stores and compares numbers. */
export class Interner {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];

  /** Creates an interner whose limit is `limit` distinct strings (ids stay below it). */
  constructor(
    private readonly what: string,
    private readonly limit: number,
  ) {}

  /** The id of `name`, assigning the next one when it is new. */
  intern(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      if (id >= this.limit) {
        throw new LimitExceededError(`graph snapshot: more than ${this.limit} distinct ${this.what}`, {
          reason: "graph_too_large",
        });
      }
      this.ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }

  /** The id of `name`, or -1 when it was never interned (then no tuple can mention it). */
  find(name: string): number {
    return this.ids.get(name) ?? -1;
  }

  /** The string behind an id. */
  name(id: number): string {
    const name = this.names[id];
    if (name === undefined) throw new RangeError(`graph snapshot: unknown ${this.what} id ${id}`);
    return name;
  }
}
