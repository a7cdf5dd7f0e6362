/** Shared fixtures of the Keto gateway tests: an OPL schema shaped after Keto's docs samples. */
import { openPermissionEngine, type PermissionEngine } from "../../engine/permission-engine.js";
import { createMemoryStore } from "../../engine/store/index.js";

/**
 * Keto's docs-sample namespaces (`messages`, `files`, `directories`, `chats`, `File`, `User`) declared empty, as the
 * samples' legacy namespace configs are: Keto's non-strict mode makes every relation a plain one. `Doc`
 * adds OPL rewrites (computed, traverse, negation) for the expand mapping.
 */
export const ketoDocsSchema = `
class User implements Namespace {}
class messages implements Namespace {}
class files implements Namespace {}
class directories implements Namespace {}
class chats implements Namespace {}
class File implements Namespace {}
class Folder implements Namespace {
  related: { viewers: User[] }
}
class Doc implements Namespace {
  related: {
    owners: User[]
    editors: User[]
    banned: User[]
    parents: Folder[]
  }
  permits = {
    edit: (ctx: Context): boolean => this.related.owners.includes(ctx.subject) || this.related.editors.includes(ctx.subject),
    view: (ctx: Context): boolean => this.permits.edit(ctx) || this.related.parents.traverse((p) => p.related.viewers.includes(ctx.subject)),
    strict_view: (ctx: Context): boolean => this.permits.edit(ctx) && !this.related.banned.includes(ctx.subject),
  }
}
`;

/** A fresh engine on a memory store with `ketoDocsSchema`. */
export async function openTestEngine(): Promise<PermissionEngine> {
  const engine = await openPermissionEngine({ store: createMemoryStore() });
  await engine.writeSchema(ketoDocsSchema, "opl");
  return engine;
}
