/**
 * Random OpenFGA models and tuple sets for the differential test, from a seeded generator so a failure can
 * be replayed by its seed.
 */
import { Prng } from "../../common/prng.js";
import type { RelationTuple, Subject } from "../../engine/tuple.js";

/** The seeded PRNG with the picks the generators need. */
export class Random extends Prng {
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

/** A generated case: the model text, its tuples, and the universe of objects and subjects to ask about. */
export interface RandomCase {
  readonly model: string;
  readonly tuples: readonly RelationTuple[];
  readonly objects: readonly { namespace: string; object: string }[];
  readonly subjects: readonly Subject[];
  /** Relations (and permissions) per type. */
  readonly relations: ReadonlyMap<string, readonly string[]>;
}

const TYPES = ["t0", "t1", "t2"];
const RELATIONS = ["r0", "r1", "r2", "r3"];
const OBJECTS = ["a", "b", "c", "d"];
const USERS = ["u0", "u1", "u2", "u3"];

interface DirectType {
  type: string;
  relation?: string;
  wildcard?: boolean;
}

function formatDirect(d: DirectType): string {
  if (d.wildcard === true) return `${d.type}:*`;
  return d.relation === undefined ? d.type : `${d.type}#${d.relation}`;
}

/** Builds one random model with tuples. Every type has a `parent` tupleset relation for tuple-to-userset. */
export function randomCase(seed: number): RandomCase {
  const rnd = new Random(seed);
  const parentType = new Map(TYPES.map((t) => [t, rnd.pick(TYPES)]));
  const directTypes = new Map<string, DirectType[]>();
  const lines = ["model", "  schema 1.1", "type user"];
  const relations = new Map<string, string[]>();

  const atom = (type: string, depth: number): string => {
    const roll = rnd.int(depth > 1 ? 2 : 4);
    if (roll === 0) return rnd.pick(RELATIONS);
    if (roll === 1) return `${rnd.pick(RELATIONS)} from parent`;
    const op = rnd.pick(["or", "and", "but not"]);
    return `(${atom(type, depth + 1)} ${op} ${atom(type, depth + 1)})`;
  };

  for (const type of TYPES) {
    lines.push(`type ${type}`, "  relations", `    define parent: [${parentType.get(type)}]`);
    relations.set(type, ["parent", ...RELATIONS]);
    for (const relation of RELATIONS) {
      const hasDirect = relation === "r0" || rnd.chance(0.75);
      const parts: string[] = [];
      if (hasDirect) {
        const choices: DirectType[] = [
          { type: "user" },
          { type: "user", wildcard: true },
          { type: rnd.pick(TYPES) },
          { type: rnd.pick(TYPES), relation: rnd.pick(RELATIONS) },
        ];
        const chosen = choices.filter((_, i) => i === 0 || rnd.chance(0.4));
        const unique = [...new Map(chosen.map((d) => [formatDirect(d), d])).values()];
        directTypes.set(`${type}#${relation}`, unique);
        parts.push(`[${unique.map(formatDirect).join(", ")}]`);
      }
      // r0 stays a plain direct relation so every model has a base case to build on.
      if (relation !== "r0" && (!hasDirect || rnd.chance(0.7))) {
        parts.push(atom(type, 0));
      }
      const expr = parts.length === 2 ? `${parts[0]} or ${parts[1]}` : (parts[0] as string);
      lines.push(`    define ${relation}: ${expr}`);
    }
  }

  const objects = TYPES.flatMap((namespace) => OBJECTS.map((object) => ({ namespace, object })));
  const subjectFor = (d: DirectType): Subject => {
    if (d.type === "user") {
      return d.wildcard === true
        ? { kind: "set", namespace: "user", object: "*", relation: "" }
        : { kind: "set", namespace: "user", object: rnd.pick(USERS), relation: "" };
    }
    return { kind: "set", namespace: d.type, object: rnd.pick(OBJECTS), relation: d.relation ?? "" };
  };
  const tuples: RelationTuple[] = [];
  const count = 15 + rnd.int(30);
  for (let i = 0; i < count; i++) {
    const { namespace, object } = rnd.pick(objects);
    if (rnd.chance(0.2)) {
      tuples.push({ namespace, object, relation: "parent", subject: subjectFor({ type: parentType.get(namespace) ?? "t0" }) });
      continue;
    }
    const relation = rnd.pick(RELATIONS);
    const allowed = directTypes.get(`${namespace}#${relation}`);
    if (allowed === undefined) continue;
    tuples.push({ namespace, object, relation, subject: subjectFor(rnd.pick(allowed)) });
  }

  const subjects: Subject[] = [
    ...USERS.map((u): Subject => ({ kind: "set", namespace: "user", object: u, relation: "" })),
    { kind: "set", namespace: "user", object: "u9", relation: "" },
    { kind: "set", namespace: "user", object: "*", relation: "" },
    ...TYPES.map((t): Subject => ({ kind: "set", namespace: t, object: rnd.pick(OBJECTS), relation: "" })),
    ...TYPES.map((t): Subject => ({ kind: "set", namespace: t, object: rnd.pick(OBJECTS), relation: rnd.pick(RELATIONS) })),
  ];
  return { model: lines.join("\n"), tuples, objects, subjects, relations };
}
