/**
 * A deliberately naive reference evaluator for the differential test: the Zanzibar definitions written as
 * directly as possible over a plain tuple list — no interning, no indexes, no memo, no short-circuit, cycle
 * detection by the visiting path (a revisit counts as not-a-member). Slow on purpose; small graphs only.
 */
import type { Rewrite, Schema } from "../../engine/schema/ir.js";
import { WILDCARD, formatSubject, type RelationTuple, type Subject } from "../../engine/tuple.js";

/** Answers checks by brute force over `tuples`. */
export class ReferenceEvaluator {
  constructor(
    private readonly schema: Schema,
    private readonly tuples: readonly RelationTuple[],
  ) {}

  /** Is `subject` in `namespace:object#relation`? */
  check(namespace: string, object: string, relation: string, subject: Subject): boolean {
    return this.member(namespace, object, relation, subject, new Set());
  }

  private member(ns: string, obj: string, rel: string, subject: Subject, path: ReadonlySet<string>): boolean {
    const key = `${ns}:${obj}#${rel}@${formatSubject(subject)}`;
    if (path.has(key)) return false;
    const def = this.schema.types.get(ns)?.relations.get(rel);
    if (def === undefined) return false;
    const next = new Set(path).add(key);
    return this.evaluate(def.rewrite, ns, obj, rel, subject, next);
  }

  private evaluate(rw: Rewrite, ns: string, obj: string, rel: string, subject: Subject, path: ReadonlySet<string>): boolean {
    switch (rw.kind) {
      case "this":
        return this.direct(ns, obj, rel, subject, path);
      case "computed":
        return this.member(ns, obj, rw.relation, subject, path);
      case "tupleToUserset": {
        const results = this.stored(ns, obj, rw.tupleset)
          .filter((t) => t.subject.kind === "set")
          .map((t) => {
            const s = t.subject as Extract<Subject, { kind: "set" }>;
            if (this.schema.types.get(s.namespace)?.relations.get(rw.computed) === undefined) return false;
            return this.member(s.namespace, s.object, rw.computed, subject, path);
          });
        return results.some((r) => r);
      }
      case "union":
        return rw.children.map((c) => this.evaluate(c, ns, obj, rel, subject, path)).some((r) => r);
      case "intersection":
        return rw.children.map((c) => this.evaluate(c, ns, obj, rel, subject, path)).every((r) => r);
      case "exclusion": {
        const base = this.evaluate(rw.base, ns, obj, rel, subject, path);
        const subtract = this.evaluate(rw.subtract, ns, obj, rel, subject, path);
        return base && !subtract;
      }
      case "complement":
        return !this.evaluate(rw.child, ns, obj, rel, subject, path);
    }
  }

  /** Stored tuples of `ns:obj#rel` whose subject the relation's current type list allows. */
  private stored(ns: string, obj: string, rel: string): RelationTuple[] {
    const def = this.schema.types.get(ns)?.relations.get(rel);
    if (def === undefined) return [];
    return this.tuples.filter((t) => {
      if (t.namespace !== ns || t.object !== obj || t.relation !== rel) return false;
      const s = t.subject;
      if (s.kind === "id") return this.schema.bareSubjectIds;
      const wildcard = this.schema.language === "fga" && s.object === WILDCARD && s.relation === "";
      return def.directTypes.some((a) =>
        wildcard
          ? a.type === s.namespace && a.wildcard === true
          : a.type === s.namespace && a.wildcard !== true && (a.relation ?? "") === s.relation,
      );
    });
  }

  private direct(ns: string, obj: string, rel: string, subject: Subject, path: ReadonlySet<string>): boolean {
    const results = this.stored(ns, obj, rel).map((t) => {
      const s = t.subject;
      if (formatSubject(s) === formatSubject(subject) && s.kind === subject.kind) return true;
      if (s.kind !== "set") return false;
      if (this.schema.language === "fga" && s.object === WILDCARD && s.relation === "") {
        return subject.kind === "set" && subject.namespace === s.namespace && subject.relation === "";
      }
      if (s.relation === "") return false;
      return this.member(s.namespace, s.object, s.relation, subject, path);
    });
    return results.some((r) => r);
  }
}
