/**
 * The Drive dataset: users, groups nested 5 deep, folders nested 6 deep and documents with owner, editor,
 * viewer and a parent folder, at any size (100k, 1M, 10M tuples). Deterministic from a seed and streamed: the
 * tuples come from a generator, so a 10M dataset is never one array.
 *
 * Layout (all counts derive from the wanted tuple count, see `driveLayout`):
 * - group trees of 121 groups (branching 3, levels 0..4): a child group's members are members of its parent
 *   (`group:parent#member@group:child#member`), so a user of a leaf group is 5 levels below the top group;
 * - users, each in one group (80% a leaf group) and 20% of them in a second one;
 * - folder trees of 63 folders (branching 2, depths 0..5): every root has an owner and a whole group tree as
 *   viewers; deeper folders sometimes have an editor or a viewer group;
 * - documents, mostly in depth-5 folders (half of a binary tree's nodes are leaves), each with an owner, often
 *   an editor and a viewer, sometimes a viewer group; documents are added until the tuple count is reached.
 *
 * Every decision is `pick(seed, stream, index)`, a pure function, so "the folder of document 123" can be
 * answered without replaying the stream (the check workload relies on it).
 */
import type { RelationTuple } from "../../engine/tuple.js";
import { chance, pick, Prng } from "./random.js";

/** The Drive model in the OpenFGA DSL (the engine compiles it like any schema). */
export const DRIVE_SCHEMA_FGA = `model
  schema 1.1

type user

type group
  relations
    define member: [user, group#member]

type folder
  relations
    define parent: [folder]
    define owner: [user, group#member]
    define editor: [user, group#member]
    define viewer: [user, group#member]
    define own: owner or own from parent
    define edit: editor or own or edit from parent
    define view: viewer or edit or view from parent

type document
  relations
    define parent: [folder]
    define owner: [user]
    define editor: [user, group#member]
    define viewer: [user, group#member]
    define edit: editor or owner or edit from parent
    define view: viewer or edit or view from parent
`;

/** Groups per group tree: 1 + 3 + 9 + 27 + 81 (levels 0..4). */
export const GROUPS_PER_TREE = 121;
/** Groups of a tree's last level (the leaves), which start at in-tree index 40. */
const FIRST_LEAF_GROUP = 40;
/** Folders per folder tree: a complete binary tree of depths 0..5. */
export const FOLDERS_PER_TREE = 63;

/** Stream tags of `pick`: one per independent decision, so changing one decision never shifts another. */
const S = {
  userTree: 1,
  userLeaf: 2,
  userAnyGroup: 3,
  userLeafOrAny: 4,
  userSecond: 5,
  userSecondGroup: 6,
  rootOwner: 7,
  rootViewerTree: 8,
  folderEditor: 9,
  folderEditorUser: 10,
  folderViewerGroup: 11,
  folderViewerGroupId: 12,
  docTree: 13,
  docFolder: 14,
  docOwner: 15,
  docEditor: 16,
  docEditorUser: 17,
  docViewer: 18,
  docViewerUser: 19,
  docViewerGroup: 20,
  docViewerGroupId: 21,
} as const;

/** The sizes of a Drive dataset. */
export interface DriveLayout {
  readonly seed: number;
  /** Exactly this many tuples are generated. */
  readonly tuples: number;
  readonly groupTrees: number;
  readonly groups: number;
  readonly users: number;
  readonly folderTrees: number;
  readonly folders: number;
  /** Documents with at least one tuple (the last one may be cut short by the tuple count). */
  readonly documents: number;
}

const userObj = (u: number): string => `u${u}`;
const groupObj = (g: number): string => `g${g}`;
const folderObj = (f: number): string => `f${f}`;
const docObj = (d: number): string => `d${d}`;

function tuple(namespace: string, object: string, relation: string, subNs: string, subObj: string, subRel = ""): RelationTuple {
  return { namespace, object, relation, subject: { kind: "set", namespace: subNs, object: subObj, relation: subRel } };
}

/**
 * The random-access structure of a Drive dataset: who is in which group, which folder holds a document, and
 * so on. `tuples()` emits exactly this structure.
 */
export class Drive {
  readonly layout: DriveLayout;

  constructor(tuples: number, seed = 1) {
    if (!Number.isSafeInteger(tuples) || tuples < 10_000) throw new Error(`a Drive dataset needs at least 10,000 tuples, got ${tuples}`);
    // Ratios chosen so documents hold most tuples (as in a real drive) while the shared structure still has
    // wide group trees (about 1,500 users each) and deep folder trees.
    const groupTrees = Math.max(1, Math.round(tuples / 12_500));
    const users = Math.max(100, Math.round(tuples / 10));
    const folderTrees = Math.max(1, Math.round(tuples / 6_300));
    const partial: Omit<DriveLayout, "documents"> = {
      seed,
      tuples,
      groupTrees,
      groups: groupTrees * GROUPS_PER_TREE,
      users,
      folderTrees,
      folders: folderTrees * FOLDERS_PER_TREE,
    };
    this.layout = { ...partial, documents: 0 };
    let used = this.groupTuples() + this.userTuples() + this.folderTuples();
    if (used >= tuples) throw new Error(`${tuples} tuples are too few for the shared structure (${used})`);
    let documents = 0;
    while (used < tuples) used += this.documentTupleCount(documents++);
    this.layout = { ...partial, documents };
  }

  private get seed(): number {
    return this.layout.seed;
  }

  /** The group tree a group belongs to. */
  groupTree(group: number): number {
    return Math.floor(group / GROUPS_PER_TREE);
  }

  /** The top group of a tree (every member of the tree's groups is its member). */
  topGroup(tree: number): number {
    return tree * GROUPS_PER_TREE;
  }

  /** The first group of a user (80% a leaf group, 5 levels below its tree's top). */
  firstGroup(user: number): number {
    const tree = pick(this.seed, S.userTree, user, this.layout.groupTrees);
    const inTree =
      chance(this.seed, S.userLeafOrAny, user) < 0.8
        ? FIRST_LEAF_GROUP + pick(this.seed, S.userLeaf, user, GROUPS_PER_TREE - FIRST_LEAF_GROUP)
        : pick(this.seed, S.userAnyGroup, user, GROUPS_PER_TREE);
    return tree * GROUPS_PER_TREE + inTree;
  }

  /** The second group of a user, if it has one. */
  secondGroup(user: number): number | undefined {
    if (chance(this.seed, S.userSecond, user) >= 0.2) return undefined;
    const group = pick(this.seed, S.userSecondGroup, user, this.layout.groups);
    return group === this.firstGroup(user) ? undefined : group;
  }

  /** The folder tree a folder belongs to, and its index in the tree (0 = root). */
  folderTree(folder: number): number {
    return Math.floor(folder / FOLDERS_PER_TREE);
  }

  /** The group tree whose top group views a folder tree's root. */
  rootViewerTree(folderTree: number): number {
    return pick(this.seed, S.rootViewerTree, folderTree, this.layout.groupTrees);
  }

  /** The owner of a folder tree's root. */
  rootOwner(folderTree: number): number {
    return pick(this.seed, S.rootOwner, folderTree, this.layout.users);
  }

  /** The folder holding a document. */
  documentFolder(doc: number): number {
    const tree = pick(this.seed, S.docTree, doc, this.layout.folderTrees);
    return tree * FOLDERS_PER_TREE + pick(this.seed, S.docFolder, doc, FOLDERS_PER_TREE);
  }

  /** The owner of a document. */
  documentOwner(doc: number): number {
    return pick(this.seed, S.docOwner, doc, this.layout.users);
  }

  /** The depth of a folder (0 = root, 5 = deepest). */
  folderDepth(folder: number): number {
    return Math.floor(Math.log2((folder % FOLDERS_PER_TREE) + 1));
  }

  private groupTuples(): number {
    return this.layout.groupTrees * (GROUPS_PER_TREE - 1);
  }

  private userTuples(): number {
    let n = 0;
    for (let u = 0; u < this.layout.users; u++) n += this.secondGroup(u) === undefined ? 1 : 2;
    return n;
  }

  private folderTuples(): number {
    let n = 0;
    for (let f = 0; f < this.layout.folders; f++) n += this.folderTupleList(f).length;
    return n;
  }

  private documentTupleCount(doc: number): number {
    return this.documentTupleList(doc).length;
  }

  private folderTupleList(f: number): RelationTuple[] {
    const out: RelationTuple[] = [];
    const inTree = f % FOLDERS_PER_TREE;
    const tree = this.folderTree(f);
    if (inTree === 0) {
      out.push(tuple("folder", folderObj(f), "owner", "user", userObj(this.rootOwner(tree))));
      out.push(tuple("folder", folderObj(f), "viewer", "group", groupObj(this.topGroup(this.rootViewerTree(tree))), "member"));
      return out;
    }
    const parent = tree * FOLDERS_PER_TREE + Math.floor((inTree - 1) / 2);
    out.push(tuple("folder", folderObj(f), "parent", "folder", folderObj(parent)));
    if (chance(this.seed, S.folderEditor, f) < 0.25) {
      out.push(tuple("folder", folderObj(f), "editor", "user", userObj(pick(this.seed, S.folderEditorUser, f, this.layout.users))));
    }
    if (chance(this.seed, S.folderViewerGroup, f) < 0.1) {
      const group = pick(this.seed, S.folderViewerGroupId, f, this.layout.groups);
      out.push(tuple("folder", folderObj(f), "viewer", "group", groupObj(group), "member"));
    }
    return out;
  }

  private documentTupleList(d: number): RelationTuple[] {
    const id = docObj(d);
    const out: RelationTuple[] = [
      tuple("document", id, "parent", "folder", folderObj(this.documentFolder(d))),
      tuple("document", id, "owner", "user", userObj(this.documentOwner(d))),
    ];
    if (chance(this.seed, S.docEditor, d) < 0.5) {
      out.push(tuple("document", id, "editor", "user", userObj(pick(this.seed, S.docEditorUser, d, this.layout.users))));
    }
    if (chance(this.seed, S.docViewer, d) < 0.6) {
      out.push(tuple("document", id, "viewer", "user", userObj(pick(this.seed, S.docViewerUser, d, this.layout.users))));
    }
    if (chance(this.seed, S.docViewerGroup, d) < 0.25) {
      const group = pick(this.seed, S.docViewerGroupId, d, this.layout.groups);
      out.push(tuple("document", id, "viewer", "group", groupObj(group), "member"));
    }
    return out;
  }

  /** Every tuple of the dataset, exactly `layout.tuples` of them, in a fixed order. */
  *tuples(): Generator<RelationTuple> {
    let remaining = this.layout.tuples;
    for (let t = 0; t < this.layout.groupTrees; t++) {
      for (let j = 1; j < GROUPS_PER_TREE; j++) {
        const child = t * GROUPS_PER_TREE + j;
        const parent = t * GROUPS_PER_TREE + Math.floor((j - 1) / 3);
        yield tuple("group", groupObj(parent), "member", "group", groupObj(child), "member");
        remaining--;
      }
    }
    for (let u = 0; u < this.layout.users; u++) {
      yield tuple("group", groupObj(this.firstGroup(u)), "member", "user", userObj(u));
      remaining--;
      const second = this.secondGroup(u);
      if (second !== undefined) {
        yield tuple("group", groupObj(second), "member", "user", userObj(u));
        remaining--;
      }
    }
    for (let f = 0; f < this.layout.folders; f++) {
      for (const t of this.folderTupleList(f)) {
        yield t;
        remaining--;
      }
    }
    for (let d = 0; d < this.layout.documents && remaining > 0; d++) {
      for (const t of this.documentTupleList(d)) {
        if (remaining === 0) return;
        yield t;
        remaining--;
      }
    }
  }

  /** A user who is a member (possibly nested) of a group tree's top group: sampled, so about `groupTrees` tries. */
  private userInTree(tree: number, rng: Prng): number {
    for (;;) {
      const u = rng.int(this.layout.users);
      if (this.groupTree(this.firstGroup(u)) === tree) return u;
    }
  }

  /**
   * A check workload of `count` requests mixing allowed and denied, shallow and deep:
   * - 25% `view` by the document's owner (allowed, shallow: owner -> edit -> view);
   * - 25% `view` by a member of the group viewing the root of the document's folder tree (allowed, deep:
   *   up to 5 parent hops, then down to 5 levels of nested groups);
   * - 40% `view` by a random user (mostly denied, so the whole graph below the document is searched);
   * - 10% `edit` by a random user (mostly denied).
   * Requests are drawn from `rng`, so a seed gives the same workload; `kinds` says which rule made each.
   */
  workload(count: number, seed = 7): { requests: DriveCheck[]; kinds: DriveCheckKind[] } {
    const rng = new Prng(seed);
    const requests: DriveCheck[] = [];
    const kinds: DriveCheckKind[] = [];
    // Documents that exist whole (the last one may be cut short).
    const docs = Math.max(1, this.layout.documents - 1);
    for (let i = 0; i < count; i++) {
      const d = rng.int(docs);
      const r = rng.next();
      let user: number;
      let relation = "view";
      let kind: DriveCheckKind;
      if (r < 0.25) {
        user = this.documentOwner(d);
        kind = "owner";
      } else if (r < 0.5) {
        user = this.userInTree(this.rootViewerTree(this.folderTree(this.documentFolder(d))), rng);
        kind = "deep";
      } else if (r < 0.9) {
        user = rng.int(this.layout.users);
        kind = "random-view";
      } else {
        user = rng.int(this.layout.users);
        relation = "edit";
        kind = "random-edit";
      }
      requests.push(driveCheck(d, relation, user));
      kinds.push(kind);
    }
    return { requests, kinds };
  }

  /** A user of a leaf group in the first group tree: a wide subject for lookupResources. */
  wideUser(): number {
    const rng = new Prng(11);
    return this.userInTree(0, rng);
  }
}

/** Which rule of the workload produced a request. */
export type DriveCheckKind = "owner" | "deep" | "random-view" | "random-edit";

/** A check of the Drive model, in the engine's request shape. */
export interface DriveCheck {
  readonly namespace: "document";
  readonly object: string;
  readonly relation: string;
  readonly subject: { readonly kind: "set"; readonly namespace: "user"; readonly object: string; readonly relation: "" };
}

/** `document:d<doc>#<relation>@user:u<user>`. */
export function driveCheck(doc: number, relation: string, user: number): DriveCheck {
  return { namespace: "document", object: docObj(doc), relation, subject: { kind: "set", namespace: "user", object: userObj(user), relation: "" } };
}

/** Dataset sizes by name, as the command line spells them. */
export const DRIVE_SIZES = { "10k": 10_000, "100k": 100_000, "1M": 1_000_000, "10M": 10_000_000 } as const;
export type DriveSize = keyof typeof DRIVE_SIZES;
