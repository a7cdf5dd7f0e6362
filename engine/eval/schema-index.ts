/**
 * Reverse facts about a schema that the lookups need: which relations read a relation through `computed`
 * or tuple-to-userset (to walk the graph from a subject towards resources), and whether a relation's
 * evaluation can reach a complement (whose members cannot be found by walking tuples at all).
 */
import type { Rewrite, Schema } from "../schema/ir.js";
import { findRelation } from "./schema-access.js";

/** A tuple-to-userset that reads relation `computed` of its tupleset's subjects. */
export interface TupleToUsersetUse {
  /** The type and relation whose rewrite contains it. */
  readonly type: string;
  readonly relation: string;
  readonly tupleset: string;
}

/** The reverse index of one schema. Built per request: it is cheap and keeps the evaluator free of caches. */
export class SchemaIndex {
  private readonly computedUses = new Map<string, string[]>();
  private readonly ttuUses = new Map<string, TupleToUsersetUse[]>();
  private readonly complement = new Map<string, boolean>();

  constructor(private readonly schema: Schema) {
    for (const [type, def] of schema.types) {
      for (const [relation, rel] of def.relations) {
        walk(rel.rewrite, (rw) => {
          if (rw.kind === "computed") push(this.computedUses, `${type}#${rw.relation}`, relation);
          if (rw.kind === "tupleToUserset") push(this.ttuUses, rw.computed, { type, relation, tupleset: rw.tupleset });
        });
      }
    }
  }

  /** Relations of `type` whose rewrite reads `type#relation` through `computed`. */
  computedUsersOf(type: string, relation: string): readonly string[] {
    return this.computedUses.get(`${type}#${relation}`) ?? [];
  }

  /** Tuple-to-usersets (of any type) that read relation `computed` of their tupleset's subjects. */
  tupleToUsersetUsersOf(computed: string): readonly TupleToUsersetUse[] {
    return this.ttuUses.get(computed) ?? [];
  }

  /**
   * True when evaluating `type#relation` can reach a complement, through computed usersets,
   * tuple-to-usersets and subject sets the schema allows.
   */
  reachesComplement(type: string, relation: string): boolean {
    let known = this.complement.get(`${type}#${relation}`);
    if (known === undefined) {
      known = closureSome(this.schema, type, relation, (rw) => rw.kind === "complement");
      this.complement.set(`${type}#${relation}`, known);
    }
    return known;
  }
}

/**
 * True when `test` holds for some rewrite node that evaluating `type#relation` can reach: its own rewrite,
 * the relations its computed usersets name, the relations its tuple-to-usersets reach on the types the
 * tupleset allows, and the relations of the subject sets its type list allows.
 */
export function closureSome(schema: Schema, type: string, relation: string, test: (rw: Rewrite) => boolean): boolean {
  const seen = new Set<string>();
  const stack: [string, string][] = [[type, relation]];
  while (stack.length > 0) {
    const [t, r] = stack.pop() as [string, string];
    const key = `${t}#${r}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const def = findRelation(schema, t, r);
    if (def === undefined) continue;
    let found = false;
    walk(def.rewrite, (rw) => {
      if (test(rw)) found = true;
      else if (rw.kind === "computed") stack.push([t, rw.relation]);
      else if (rw.kind === "this") {
        for (const a of def.directTypes) if (a.relation !== undefined) stack.push([a.type, a.relation]);
        // Keto non-strict follows every stored subject set, so any relation of any type may be reached.
        if (schema.ketoNonStrict === true) {
          for (const [name, other] of schema.types) for (const rel of other.relations.keys()) stack.push([name, rel]);
        }
      } else if (rw.kind === "tupleToUserset") {
        const tupleset = findRelation(schema, t, rw.tupleset);
        for (const a of tupleset?.directTypes ?? []) stack.push([a.type, rw.computed]);
      }
    });
    if (found) return true;
  }
  return false;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** Calls `visit` on every node of a rewrite. */
function walk(rw: Rewrite, visit: (rw: Rewrite) => void): void {
  visit(rw);
  if (rw.kind === "union" || rw.kind === "intersection") for (const c of rw.children) walk(c, visit);
  else if (rw.kind === "exclusion") {
    walk(rw.base, visit);
    walk(rw.subtract, visit);
  } else if (rw.kind === "complement") walk(rw.child, visit);
}
