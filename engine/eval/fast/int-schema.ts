/**
 * The schema by interned ids, for the integer-only evaluator in worker threads.
 *
 * `compileIntSchema` runs on the main thread (it interns names into the graph's interners) and yields
 * `IntSchema`: plain, structured-cloneable data. A worker turns it into an `IntSchemaIndex`: typed arrays
 * answering the questions of `schema-access.ts` (`findRelation`, `storedSubjectAllowed`, `acceptsWildcard`,
 * `isWildcard`) in O(1) without strings.
 *
 * Keto non-strict mode is folded in at compile time where it can be: a permit's rewrite is already
 * `union(this, rewrite)`. An undeclared relation name can only appear at run time (in a tuple or a request),
 * so the index answers "relation r of a schema type, not declared" with one shared plain-`this` relation.
 */
import type { NameInterner } from "../../graph/int-graph.js";
import type { Rewrite, Schema, SchemaLanguage } from "../../schema/ir.js";
import { findRelation } from "../schema-access.js";
import { closureSome } from "../schema-index.js";

/** Type and relation ids stay below this (the graph's interners enforce it). */
export const MAX_NAME_ID = 2048;

/** A rewrite with relation ids instead of names. */
export type IntRewrite =
  | { readonly kind: "this" }
  | { readonly kind: "computed"; readonly relation: number }
  | { readonly kind: "tupleToUserset"; readonly tupleset: number; readonly computed: number }
  | { readonly kind: "union" | "intersection"; readonly children: readonly IntRewrite[] }
  | { readonly kind: "exclusion"; readonly base: IntRewrite; readonly subtract: IntRewrite }
  | { readonly kind: "complement"; readonly child: IntRewrite };

/** An allowed subject type: `type`, `type#relation` (relation id, 0 for none) or the wildcard `type:*`. */
export interface IntDirectType {
  readonly type: number;
  readonly relation: number;
  readonly wildcard: boolean;
}

/** One declared relation or permission, as `findRelation` returns it (non-strict permits already widened). */
export interface IntRelation {
  readonly type: number;
  readonly relation: number;
  readonly permission: boolean;
  readonly rewrite: IntRewrite;
  readonly directTypes: readonly IntDirectType[];
  /** Nothing it can reach is an intersection, exclusion or complement (the checker's reachability mode). */
  readonly unionOnly: boolean;
}

/** A compiled schema by ids. Plain data: it crosses `postMessage` and JSON unchanged. */
export interface IntSchema {
  readonly language: SchemaLanguage;
  readonly bareSubjectIds: boolean;
  readonly ketoNonStrict: boolean;
  /** Ids of the schema's types (non-strict: any relation name of these types exists). */
  readonly types: readonly number[];
  readonly relations: readonly IntRelation[];
  /** Non-strict only: `unionOnly` of an undeclared (plain `this`) relation; the same for every type. */
  readonly undeclaredUnionOnly: boolean;
}

const negative = (rw: Rewrite): boolean => rw.kind === "intersection" || rw.kind === "exclusion" || rw.kind === "complement";

function checkId(id: number, what: string, name: string): number {
  if (!Number.isInteger(id) || id < 0 || id >= MAX_NAME_ID) {
    throw new RangeError(`int schema: ${what} "${name}" has id ${id}, outside [0, ${MAX_NAME_ID})`);
  }
  return id;
}

/** Compiles `schema` to ids, interning every name it mentions through `names` (the graph's interners). */
export function compileIntSchema(schema: Schema, names: NameInterner): IntSchema {
  const type = (name: string): number => checkId(names.internType(name), "type", name);
  const relation = (name: string): number => checkId(names.internRelation(name), "relation", name);
  const convert = (rw: Rewrite): IntRewrite => {
    switch (rw.kind) {
      case "this":
        return { kind: "this" };
      case "computed":
        return { kind: "computed", relation: relation(rw.relation) };
      case "tupleToUserset":
        return { kind: "tupleToUserset", tupleset: relation(rw.tupleset), computed: relation(rw.computed) };
      case "union":
      case "intersection":
        return { kind: rw.kind, children: rw.children.map(convert) };
      case "exclusion":
        return { kind: "exclusion", base: convert(rw.base), subtract: convert(rw.subtract) };
      case "complement":
        return { kind: "complement", child: convert(rw.child) };
    }
  };

  const types: number[] = [];
  const relations: IntRelation[] = [];
  for (const [typeName, typeDef] of schema.types) {
    const typeId = type(typeName);
    types.push(typeId);
    for (const relationName of typeDef.relations.keys()) {
      // Through findRelation, so the non-strict widening of permits is exactly the string evaluator's.
      const def = findRelation(schema, typeName, relationName);
      if (def === undefined) continue;
      relations.push({
        type: typeId,
        relation: relation(relationName),
        permission: def.kind === "permission",
        rewrite: convert(def.rewrite),
        directTypes: def.directTypes.map((a) => ({
          type: type(a.type),
          relation: a.relation === undefined ? 0 : relation(a.relation),
          wildcard: a.wildcard === true,
        })),
        unionOnly: !closureSome(schema, typeName, relationName, negative),
      });
    }
  }

  const ketoNonStrict = schema.ketoNonStrict === true;
  let undeclaredUnionOnly = true;
  const first = schema.types.values().next().value;
  if (ketoNonStrict && first !== undefined) {
    // closureSome of any undeclared name: its plain `this` reaches every declared relation of every type.
    let name = "\u0000undeclared";
    while (first.relations.has(name)) name += "\u0000";
    undeclaredUnionOnly = !closureSome(schema, first.name, name, negative);
  }
  return {
    language: schema.language,
    bareSubjectIds: schema.bareSubjectIds,
    ketoNonStrict,
    types,
    relations,
    undeclaredUnionOnly,
  };
}

// Rewrite op codes of the flat program. Each op is OP_SIZE ints: code, a, b, (unused).
export const OP_THIS = 0;
/** a: relation id. */
export const OP_COMPUTED = 1;
/** a: tupleset relation id, b: computed relation id. */
export const OP_TTU = 2;
/** a: offset of the first child in `children`, b: child count. */
export const OP_UNION = 3;
export const OP_INTERSECTION = 4;
/** a: base op, b: subtract op. */
export const OP_EXCLUSION = 5;
/** a: child op. */
export const OP_COMPLEMENT = 6;
export const OP_SIZE = 4;

/**
 * An `IntSchema` as lookup tables. Relations are numbered (`def` ids); ops are addressed by their offset in
 * `ops` (a multiple of OP_SIZE). Built once per schema in each worker.
 */
export class IntSchemaIndex {
  readonly language: SchemaLanguage;
  readonly fga: boolean;
  readonly bareSubjectIds: boolean;
  readonly ketoNonStrict: boolean;
  /** The flat rewrite program. */
  readonly ops: Int32Array;
  /** Child op offsets of unions and intersections. */
  readonly children: Int32Array;
  /** Per def: offset of its rewrite's root op. */
  readonly defRoot: Int32Array;
  /** Per def: 1 when union-only. */
  readonly defUnionOnly: Uint8Array;
  /** Per def: its type and relation ids (the plain def: -1). */
  readonly defType: Int32Array;
  readonly defRelation: Int32Array;
  /** Non-strict: the def of every undeclared relation of a schema type; -1 otherwise. */
  readonly plainDef: number;
  // Allowed subject types of def d: entries [directStart[d], directStart[d+1]) of directTypes (3 ints each).
  private readonly directStart: Int32Array;
  private readonly directTypes: Int32Array;
  /** type id → row offset into `relationTable`, or -1 for a type the schema lacks. */
  private readonly typeRow: Int32Array;
  /** Row-major (schema type × relation id) → def, -1 when undeclared. */
  private readonly relationTable: Int32Array;
  private readonly rowLength: number;

  constructor(schema: IntSchema) {
    this.language = schema.language;
    this.fga = schema.language === "fga";
    this.bareSubjectIds = schema.bareSubjectIds;
    this.ketoNonStrict = schema.ketoNonStrict;

    const ops: number[] = [];
    const children: number[] = [];
    const emit = (rw: IntRewrite): number => {
      const at = ops.length;
      for (let k = 0; k < OP_SIZE; k++) ops.push(0);
      switch (rw.kind) {
        case "this":
          ops[at] = OP_THIS;
          break;
        case "computed":
          ops[at] = OP_COMPUTED;
          ops[at + 1] = rw.relation;
          break;
        case "tupleToUserset":
          ops[at] = OP_TTU;
          ops[at + 1] = rw.tupleset;
          ops[at + 2] = rw.computed;
          break;
        case "union":
        case "intersection": {
          const kids = rw.children.map(emit);
          ops[at] = rw.kind === "union" ? OP_UNION : OP_INTERSECTION;
          ops[at + 1] = children.length;
          ops[at + 2] = kids.length;
          children.push(...kids);
          break;
        }
        case "exclusion":
          ops[at] = OP_EXCLUSION;
          ops[at + 1] = emit(rw.base);
          ops[at + 2] = emit(rw.subtract);
          break;
        case "complement":
          ops[at] = OP_COMPLEMENT;
          ops[at + 1] = emit(rw.child);
          break;
      }
      return at;
    };

    const defs = schema.relations;
    const count = defs.length + (schema.ketoNonStrict ? 1 : 0);
    this.defRoot = new Int32Array(count);
    this.defUnionOnly = new Uint8Array(count);
    this.defType = new Int32Array(count).fill(-1);
    this.defRelation = new Int32Array(count).fill(-1);
    this.directStart = new Int32Array(count + 1);
    const direct: number[] = [];
    defs.forEach((def, d) => {
      this.defRoot[d] = emit(def.rewrite);
      this.defUnionOnly[d] = def.unionOnly ? 1 : 0;
      this.defType[d] = def.type;
      this.defRelation[d] = def.relation;
      this.directStart[d] = direct.length / 3;
      for (const a of def.directTypes) direct.push(a.type, a.relation, a.wildcard ? 1 : 0);
    });
    this.plainDef = -1;
    if (schema.ketoNonStrict) {
      // Keto non-strict: an undeclared relation is plain `this` with no type list (every subject counts).
      const d = defs.length;
      this.plainDef = d;
      this.directStart[d] = direct.length / 3;
      this.defRoot[d] = emit({ kind: "this" });
      this.defUnionOnly[d] = schema.undeclaredUnionOnly ? 1 : 0;
    }
    this.directStart[count] = direct.length / 3;
    this.ops = Int32Array.from(ops);
    this.children = Int32Array.from(children);
    this.directTypes = Int32Array.from(direct);

    let maxRelation = 0;
    for (const def of defs) maxRelation = Math.max(maxRelation, def.relation);
    this.rowLength = maxRelation + 1;
    this.typeRow = new Int32Array(MAX_NAME_ID).fill(-1);
    schema.types.forEach((t, i) => {
      this.typeRow[t] = i * this.rowLength;
    });
    this.relationTable = new Int32Array(schema.types.length * this.rowLength).fill(-1);
    defs.forEach((def, d) => {
      const row = this.typeRow[def.type] as number;
      if (row >= 0) this.relationTable[row + def.relation] = d;
    });
  }

  /** The def of `type#relation` as `findRelation` sees it, or -1 (then the relation holds nobody). */
  findRelation(type: number, relation: number): number {
    if (type < 0 || type >= MAX_NAME_ID) return -1;
    const row = this.typeRow[type] as number;
    if (row < 0) return -1;
    if (relation >= 0 && relation < this.rowLength) {
      const d = this.relationTable[row + relation] as number;
      if (d >= 0) return d;
    }
    return this.plainDef;
  }

  /** True when def `d` lists the non-wildcard subject type `type` (relation `relation`, 0 for a typed object). */
  listsSubject(d: number, type: number, relation: number): boolean {
    const dt = this.directTypes;
    for (let i = (this.directStart[d] as number) * 3, end = (this.directStart[d + 1] as number) * 3; i < end; i += 3) {
      if (dt[i] === type && dt[i + 1] === relation && dt[i + 2] === 0) return true;
    }
    return false;
  }

  /** Def `d`'s allowed subject types as `[type, relation, wildcard ? 1 : 0]` (a copy, for building tables). */
  directTypesOf(d: number): [number, number, number][] {
    const out: [number, number, number][] = [];
    const dt = this.directTypes;
    for (let i = (this.directStart[d] as number) * 3, end = (this.directStart[d + 1] as number) * 3; i < end; i += 3) {
      out.push([dt[i] as number, dt[i + 1] as number, dt[i + 2] as number]);
    }
    return out;
  }

  /** The number of defs (the non-strict plain def included). */
  get defCount(): number {
    return this.defRoot.length;
  }

  /** `acceptsWildcard`: def `d` accepts `type:*`. */
  acceptsWildcard(d: number, type: number): boolean {
    const dt = this.directTypes;
    for (let i = (this.directStart[d] as number) * 3, end = (this.directStart[d + 1] as number) * 3; i < end; i += 3) {
      if (dt[i] === type && dt[i + 2] === 1) return true;
    }
    return false;
  }

  /** `isWildcard`: the subject (type 0 = bare id) is `T:*` in an OpenFGA schema; `wildcardObject` is the id of `*`. */
  isWildcard(type: number, object: number, relation: number, wildcardObject: number): boolean {
    return this.fga && type !== 0 && relation === 0 && wildcardObject >= 0 && object === wildcardObject;
  }

  /** `storedSubjectAllowed`: a stored subject counts under def `d`'s current type list. */
  storedSubjectAllowed(d: number, type: number, object: number, relation: number, wildcardObject: number): boolean {
    if (this.ketoNonStrict) return true;
    if (type === 0) return this.bareSubjectIds;
    if (this.isWildcard(type, object, relation, wildcardObject)) return this.acceptsWildcard(d, type);
    return this.listsSubject(d, type, relation);
  }
}
