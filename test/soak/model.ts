/**
 * The soak's schema, its small universe of tuples and checks, and a reference evaluator of that schema over
 * a set of live tuples: the answers every check must match, computed from the truth in PostgreSQL.
 *
 * The universe is small on purpose (a few users, groups and docs), so that random writes keep flipping
 * answers, group-in-group chains and cycles appear, and the same checks repeat across revisions.
 */

/** The schema (OpenFGA DSL): nested groups, docs viewable by users, groups' members and owners. */
export const SOAK_SCHEMA = `model
  schema 1.1

type user

type group
  relations
    define member: [user, group#member]

type doc
  relations
    define owner: [user]
    define viewer: [user, group#member] or owner
`;

export const USERS = ["u0", "u1", "u2", "u3", "u4", "u5"] as const;
export const GROUPS = ["g0", "g1", "g2", "g3"] as const;
export const DOCS = ["d0", "d1", "d2", "d3"] as const;

/** Every tuple a soak write may touch or delete, in the text form `ns:obj#rel@type:id[#rel]`. */
export const TUPLES: readonly string[] = [
  ...GROUPS.flatMap((g) => USERS.map((u) => `group:${g}#member@user:${u}`)),
  ...GROUPS.flatMap((g) => GROUPS.filter((h) => h !== g).map((h) => `group:${g}#member@group:${h}#member`)),
  ...DOCS.flatMap((d) => USERS.map((u) => `doc:${d}#owner@user:${u}`)),
  ...DOCS.flatMap((d) => USERS.map((u) => `doc:${d}#viewer@user:${u}`)),
  ...DOCS.flatMap((d) => GROUPS.map((g) => `doc:${d}#viewer@group:${g}#member`)),
];

/** One check of the universe: does `user` have `relation` on `namespace:object`? */
export interface SoakCheck {
  readonly namespace: "doc" | "group";
  readonly object: string;
  readonly relation: "viewer" | "owner" | "member";
  readonly user: string;
  /** `ns:obj#rel@user:u`. */
  readonly text: string;
}

function makeCheck(namespace: SoakCheck["namespace"], object: string, relation: SoakCheck["relation"], user: string): SoakCheck {
  return { namespace, object, relation, user, text: `${namespace}:${object}#${relation}@user:${user}` };
}

/** Every check the soak asks, grouped so a caller can weight them: viewer checks are the interesting ones. */
export const CHECKS = {
  viewer: DOCS.flatMap((d) => USERS.map((u) => makeCheck("doc", d, "viewer", u))),
  owner: DOCS.flatMap((d) => USERS.map((u) => makeCheck("doc", d, "owner", u))),
  member: GROUPS.flatMap((g) => USERS.map((u) => makeCheck("group", g, "member", u))),
} as const;

/** All checks in one list; a check's index in it identifies it in compact records. */
export const ALL_CHECKS: readonly SoakCheck[] = [...CHECKS.viewer, ...CHECKS.owner, ...CHECKS.member];
export const CHECK_INDEX: ReadonlyMap<string, number> = new Map(ALL_CHECKS.map((c, i) => [c.text, i]));

/** The text form of a `gatehouse_tuples` row (the same form as `TUPLES`; bare ids have subject_type ""). */
export function rowKey(row: {
  namespace: string;
  object: string;
  relation: string;
  subject_type: string;
  subject_id: string;
  subject_relation: string;
}): string {
  const subject =
    row.subject_type === "" ? row.subject_id : `${row.subject_type}:${row.subject_id}${row.subject_relation === "" ? "" : `#${row.subject_relation}`}`;
  return `${row.namespace}:${row.object}#${row.relation}@${subject}`;
}

/**
 * The schema's meaning over a set of live tuples, written out by hand (not with the engine's code):
 * - `group:g#member@user:u` iff a chain g = g0 ← g1 ← … ← gk of `group:gi#member@group:gi+1#member` tuples
 *   (no group twice) ends at a group with `group:gk#member@user:u`: plain reachability, so cycles are
 *   harmless;
 * - `doc:d#owner@user:u` iff stored;
 * - `doc:d#viewer@user:u` iff stored, or owner, or `doc:d#viewer@group:g#member` with u a member of g.
 */
export class ReferenceEvaluator {
  private readonly memo = new Map<string, boolean>();

  constructor(private readonly live: ReadonlySet<string>) {}

  check(c: SoakCheck): boolean {
    let answer = this.memo.get(c.text);
    if (answer === undefined) {
      answer = this.evaluate(c);
      this.memo.set(c.text, answer);
    }
    return answer;
  }

  private evaluate(c: SoakCheck): boolean {
    switch (c.relation) {
      case "member":
        return this.member(c.object, c.user);
      case "owner":
        return this.live.has(`doc:${c.object}#owner@user:${c.user}`);
      case "viewer":
        return (
          this.live.has(`doc:${c.object}#viewer@user:${c.user}`) ||
          this.live.has(`doc:${c.object}#owner@user:${c.user}`) ||
          GROUPS.some((g) => this.live.has(`doc:${c.object}#viewer@group:${g}#member`) && this.member(g, c.user))
        );
    }
  }

  private member(group: string, user: string): boolean {
    const seen = new Set<string>([group]);
    const queue = [group];
    for (let g = queue.shift(); g !== undefined; g = queue.shift()) {
      if (this.live.has(`group:${g}#member@user:${user}`)) return true;
      for (const h of GROUPS) {
        if (!seen.has(h) && this.live.has(`group:${g}#member@group:${h}#member`)) {
          seen.add(h);
          queue.push(h);
        }
      }
    }
    return false;
  }
}

/** One version of a tuple as PostgreSQL stores it. */
export interface TupleVersion {
  readonly key: string;
  readonly createdRev: number;
  /** Undefined while live. */
  readonly deletedRev: number | undefined;
}

/** Is a version live at `revision`? (created_rev <= R AND (deleted_rev IS NULL OR deleted_rev > R)) */
export function liveAt(v: TupleVersion, revision: number): boolean {
  return v.createdRev <= revision && (v.deletedRev === undefined || v.deletedRev > revision);
}

/**
 * Replays the versions in revision order: `advanceTo(R)` makes `live` the set of keys live at R. Calls
 * must come with non-decreasing revisions.
 */
export class TruthReplay {
  private readonly events: { revision: number; key: string; add: boolean }[];
  private next = 0;
  private revision = -1;
  readonly live = new Set<string>();

  constructor(versions: readonly TupleVersion[]) {
    this.events = versions.flatMap((v) => [
      { revision: v.createdRev, key: v.key, add: true },
      ...(v.deletedRev === undefined ? [] : [{ revision: v.deletedRev, key: v.key, add: false }]),
    ]);
    // At one revision deletes go first: a key deleted and re-created at R (never in one write, but between
    // versions) is live at R.
    this.events.sort((a, b) => a.revision - b.revision || Number(a.add) - Number(b.add));
  }

  advanceTo(revision: number): void {
    if (revision < this.revision) throw new Error(`TruthReplay went backwards: ${revision} < ${this.revision}`);
    this.revision = revision;
    for (; this.next < this.events.length && this.events[this.next]!.revision <= revision; this.next++) {
      const e = this.events[this.next]!;
      if (e.add) this.live.add(e.key);
      else this.live.delete(e.key);
    }
  }
}
