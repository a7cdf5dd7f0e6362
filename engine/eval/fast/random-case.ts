/**
 * Test support (not used by production code): random schemas, tuple histories and checks for the
 * int-vs-string differential test. Covers OpenFGA, Keto non-strict and strict OPL; every rewrite kind;
 * wildcards, bare ids and `*` as an ordinary id; tuples the type lists no longer allow; undeclared relations;
 * cycles (few objects, self-referencing subject sets); deletions and re-insertions over several revisions.
 */
import type { Schema } from "../../schema/ir.js";
import type { TupleChange } from "../../store/tuple-store.js";
import type { RelationTuple, Subject } from "../../tuple.js";
import { buildSchema } from "../test-schema.js";
import { Random } from "../../../test/differential/random-model.js";

export type Flavor = "fga" | "opl" | "opl-strict";

export interface RandomHistoryCase {
  readonly flavor: Flavor;
  readonly schema: Schema;
  /** Live at revision 1. */
  readonly initial: readonly RelationTuple[];
  /** Revisions 2..lastRevision. */
  readonly changes: readonly TupleChange[];
  readonly lastRevision: number;
  readonly objects: readonly { namespace: string; object: string }[];
  readonly relations: readonly string[];
  readonly subjects: readonly Subject[];
}

const TYPES = ["t0", "t1", "t2"];
const RELATIONS = ["r0", "r1", "r2", "r3"];
const OBJECTS = ["a", "b", "c", "d"];
const USERS = ["u0", "u1", "u2"];

const set = (namespace: string, object: string, relation = ""): Subject => ({ kind: "set", namespace, object, relation });

export function randomHistoryCase(seed: number): RandomHistoryCase {
  const rnd = new Random(seed * 7919 + 17);
  const flavor: Flavor = (["fga", "opl", "opl-strict"] as const)[seed % 3] as Flavor;
  const opl = flavor !== "fga";

  const atom = (level: number): string => {
    const roll = rnd.int(level > 1 ? 3 : 8);
    if (roll === 0) return rnd.chance(0.1) ? "r9" : rnd.pick(RELATIONS);
    if (roll === 1 || roll === 2) {
      const tupleset = rnd.chance(0.8) ? "parent" : rnd.pick(["r0", "r9"]);
      return `${rnd.chance(0.1) ? "r9" : rnd.pick(RELATIONS)} from ${tupleset}`;
    }
    if (opl && roll === 3) return `(not ${atom(level + 1)})`;
    const op = rnd.pick(["or", "or", "and", "but not"]);
    return `(${atom(level + 1)} ${op} ${atom(level + 1)})`;
  };
  const directType = (): string => {
    switch (rnd.int(5)) {
      case 0:
        return "user";
      case 1:
        return "user:*";
      case 2:
        return rnd.pick(TYPES);
      default:
        return `${rnd.pick(TYPES)}#${rnd.pick(RELATIONS)}`;
    }
  };

  const types: Record<string, Record<string, string>> = { user: {} };
  for (const type of TYPES) {
    const relations: Record<string, string> = {};
    const parents = [rnd.pick(TYPES), ...(rnd.chance(0.2) ? [`${rnd.pick(TYPES)}#r1`] : [])];
    relations.parent = `[${[...new Set(parents)].join(", ")}]`;
    for (const relation of RELATIONS) {
      const direct = relation === "r0" || rnd.chance(0.7);
      const list = direct ? `[${[...new Set(["user", ...Array.from({ length: rnd.int(3) }, directType)])].join(", ")}]` : "";
      const rewrite = relation !== "r0" && (!direct || rnd.chance(0.6)) ? atom(0) : "";
      relations[relation] = list !== "" && rewrite !== "" ? `${list} or ${rewrite}` : list !== "" ? list : rewrite;
    }
    types[type] = relations;
  }
  const built = buildSchema(types, { language: opl ? "opl" : "fga" });
  const schema: Schema = flavor === "opl" ? { ...built, ketoNonStrict: true } : built;

  // Subjects: mostly what the type lists allow, some they do not (schema drift), ids that mean odd things.
  const randomSubject = (): Subject => {
    switch (rnd.int(8)) {
      case 0:
        return set("user", rnd.pick(USERS));
      case 1:
        return set("user", "*");
      case 2:
        return { kind: "id", id: rnd.pick([...USERS, "*"]) };
      case 3:
        return set(rnd.pick(TYPES), rnd.pick(OBJECTS));
      case 4:
        return set(rnd.pick(TYPES), rnd.pick(OBJECTS), "r9");
      default:
        return set(rnd.pick(TYPES), rnd.pick(OBJECTS), rnd.pick(RELATIONS));
    }
  };
  const randomTuple = (): RelationTuple => {
    const namespace = rnd.pick(TYPES);
    const object = rnd.pick(OBJECTS);
    if (rnd.chance(0.2)) return { namespace, object, relation: "parent", subject: set(rnd.pick(TYPES), rnd.pick(OBJECTS)) };
    const relation = rnd.chance(0.05) ? "r9" : rnd.pick(RELATIONS);
    return { namespace, object, relation, subject: randomSubject() };
  };

  const initial = Array.from({ length: 10 + rnd.int(30) }, randomTuple);
  const live = new Map(initial.map((t) => [key(t), t]));
  const dead: RelationTuple[] = [];
  const changes: TupleChange[] = [];
  const lastRevision = 2 + rnd.int(3);
  for (let revision = 2; revision <= lastRevision; revision++) {
    for (let n = 1 + rnd.int(6); n > 0; n--) {
      const roll = rnd.int(3);
      if (roll === 0 && live.size > 0) {
        const tuple = rnd.pick([...live.values()]);
        live.delete(key(tuple));
        dead.push(tuple);
        changes.push({ revision, op: "delete", tuple });
      } else {
        const tuple = roll === 1 && dead.length > 0 ? rnd.pick(dead) : randomTuple();
        live.set(key(tuple), tuple);
        changes.push({ revision, op: "insert", tuple });
      }
    }
  }

  const objects = [
    ...TYPES.flatMap((namespace) => [...OBJECTS, "zz"].map((object) => ({ namespace, object }))),
    { namespace: "user", object: "u0" },
    { namespace: "ghost", object: "a" },
  ];
  const subjects: Subject[] = [
    ...USERS.map((u) => set("user", u)),
    set("user", "*"),
    set("user", "u9"),
    set("ghost", "x"),
    { kind: "id", id: "u0" },
    { kind: "id", id: "*" },
    { kind: "id", id: "nobody" },
    ...TYPES.map((t) => set(t, rnd.pick(OBJECTS))),
    ...TYPES.map((t) => set(t, rnd.pick(OBJECTS), rnd.pick(RELATIONS))),
    set(rnd.pick(TYPES), rnd.pick(OBJECTS), "r9"),
    set("t0", "a", "r8"),
  ];
  return { flavor, schema, initial, changes, lastRevision, objects, relations: [...RELATIONS, "parent", "r9"], subjects };
}

function key(t: RelationTuple): string {
  const s = t.subject;
  return `${t.namespace}:${t.object}#${t.relation}@${s.kind === "id" ? `id:${s.id}` : `${s.namespace}:${s.object}#${s.relation}`}`;
}
