/**
 * The RBAC dataset: users, nested roles and permissions (read, write) on resources, deterministic from a
 * seed. It comes in two equivalent forms:
 * - casbin policy lines for the textbook RBAC model with a role hierarchy (`CASBIN_RBAC_MODEL`):
 *   `p, role, resource, action`, `g, user, role` and `g, role, inherited-role`;
 * - Gatehouse tuples for `RBAC_SCHEMA_FGA`: `resource:o#read@role:r#member`, `role:r#member@user:u` and
 *   `role:inherited#member@role:r#member` (a role's members are members of every role it inherits).
 *
 * Roles form trees of 100 (branching 3, 5 levels): each role inherits its parent's role, so a user of a
 * deepest role holds the permissions of 4 roles above it too. Users hold one role, 30% a second one;
 * policies go to random roles on random resources and actions (distinct).
 */
import type { RelationTuple } from "../../engine/tuple.js";
import { chance, pick, Prng } from "./random.js";

/** The textbook casbin RBAC model with role inheritance (`g = _, _`), as casbin's documentation gives it. */
export const CASBIN_RBAC_MODEL = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`;

/**
 * The same model with the matcher's equality tests first (casbin evaluates the matcher for every policy;
 * this way the role lookup only runs for policies on the requested resource and action).
 */
export const CASBIN_RBAC_MODEL_OBJECT_FIRST = CASBIN_RBAC_MODEL.replace(
  "m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act",
  "m = r.obj == p.obj && r.act == p.act && g(r.sub, p.sub)",
);

/** The same model for Gatehouse, in the OpenFGA DSL. */
export const RBAC_SCHEMA_FGA = `model
  schema 1.1

type user

type role
  relations
    define member: [user, role#member]

type resource
  relations
    define read: [role#member]
    define write: [role#member]
`;

export const RBAC_ACTIONS = ["read", "write"] as const;
export type RbacAction = (typeof RBAC_ACTIONS)[number];

/** Sizes of an RBAC dataset (the defaults are the casbin measurement). */
export interface RbacConfig {
  readonly users: number;
  readonly roles: number;
  readonly policies: number;
  readonly resources: number;
  readonly seed: number;
}

export const DEFAULT_RBAC: RbacConfig = { users: 10_000, roles: 1_000, policies: 20_000, resources: 2_000, seed: 3 };

const ROLES_PER_TREE = 100;

/** One access request: may `user` do `action` on `resource`? */
export interface RbacRequest {
  readonly user: string;
  readonly resource: string;
  readonly action: RbacAction;
}

const S = { firstRole: 1, second: 2, secondRole: 3, policyRole: 4, policyResource: 5, policyAction: 6 } as const;

export class Rbac {
  readonly config: RbacConfig;
  private readonly policyList: ReadonlyArray<readonly [role: number, resource: number, action: RbacAction]>;

  constructor(config: RbacConfig = DEFAULT_RBAC) {
    this.config = config;
    // Distinct policies; the list is small (20k), so it is kept for the workload's "allowed" requests.
    const seen = new Set<string>();
    const list: Array<readonly [number, number, RbacAction]> = [];
    for (let i = 0; list.length < config.policies; i++) {
      const role = pick(config.seed, S.policyRole, i, config.roles);
      const resource = pick(config.seed, S.policyResource, i, config.resources);
      const action = RBAC_ACTIONS[pick(config.seed, S.policyAction, i, RBAC_ACTIONS.length)] as RbacAction;
      const key = `${role}/${resource}/${action}`;
      if (seen.has(key)) continue;
      seen.add(key);
      list.push([role, resource, action]);
    }
    this.policyList = list;
  }

  /** The role a role inherits (its parent in its tree), if any. */
  inherits(role: number): number | undefined {
    const inTree = role % ROLES_PER_TREE;
    if (inTree === 0) return undefined;
    return role - inTree + Math.floor((inTree - 1) / 3);
  }

  /** The roles a user holds directly. */
  rolesOf(user: number): number[] {
    const { seed, roles } = this.config;
    const first = pick(seed, S.firstRole, user, roles);
    if (chance(seed, S.second, user) >= 0.3) return [first];
    const second = pick(seed, S.secondRole, user, roles);
    return second === first ? [first] : [first, second];
  }

  /** casbin policy lines: every `p` line, then every `g` line (users' roles, then role inheritance). */
  *casbinLines(): Generator<string> {
    for (const [role, resource, action] of this.policyList) yield `p, r${role}, o${resource}, ${action}`;
    for (let u = 0; u < this.config.users; u++) for (const role of this.rolesOf(u)) yield `g, u${u}, r${role}`;
    for (let r = 0; r < this.config.roles; r++) {
      const parent = this.inherits(r);
      if (parent !== undefined) yield `g, r${r}, r${parent}`;
    }
  }

  /** The same data as Gatehouse tuples, in the same order. */
  *tuples(): Generator<RelationTuple> {
    const set = (namespace: string, object: string, relation = "") => ({ kind: "set" as const, namespace, object, relation });
    for (const [role, resource, action] of this.policyList) {
      yield { namespace: "resource", object: `o${resource}`, relation: action, subject: set("role", `r${role}`, "member") };
    }
    for (let u = 0; u < this.config.users; u++) {
      for (const role of this.rolesOf(u)) yield { namespace: "role", object: `r${role}`, relation: "member", subject: set("user", `u${u}`) };
    }
    for (let r = 0; r < this.config.roles; r++) {
      const parent = this.inherits(r);
      if (parent !== undefined) yield { namespace: "role", object: `r${parent}`, relation: "member", subject: set("role", `r${r}`, "member") };
    }
  }

  /**
   * `count` requests: half granted by construction (a policy of one of the user's roles or a role it
   * inherits), half random (user, resource, action), which are nearly all denied.
   */
  workload(count: number, seed = 5): RbacRequest[] {
    const rng = new Prng(seed);
    const byRole = new Map<number, Array<readonly [number, RbacAction]>>();
    for (const [role, resource, action] of this.policyList) {
      let list = byRole.get(role);
      if (list === undefined) byRole.set(role, (list = []));
      list.push([resource, action]);
    }
    const out: RbacRequest[] = [];
    while (out.length < count) {
      const user = rng.int(this.config.users);
      if (rng.next() < 0.5) {
        // Walk up from one of the user's roles to a random ancestor that has policies.
        const roles = this.rolesOf(user);
        let role: number | undefined = roles[rng.int(roles.length)] as number;
        const chain: number[] = [];
        while (role !== undefined) {
          if (byRole.has(role)) chain.push(role);
          role = this.inherits(role);
        }
        if (chain.length === 0) continue;
        const granted = byRole.get(chain[rng.int(chain.length)] as number) ?? [];
        const [resource, action] = granted[rng.int(granted.length)] as readonly [number, RbacAction];
        out.push({ user: `u${user}`, resource: `o${resource}`, action });
      } else {
        const action = RBAC_ACTIONS[rng.int(RBAC_ACTIONS.length)] as RbacAction;
        out.push({ user: `u${user}`, resource: `o${rng.int(this.config.resources)}`, action });
      }
    }
    return out;
  }
}
