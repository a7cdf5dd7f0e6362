/**
 * The indented text form of an Expand tree. One line per node, two spaces per level; a node names its
 * userset only where it differs from its parent's, so the rewrite reads top-down without repeating
 * `ns:obj#rel` on every line:
 *
 *     document:readme#view: union
 *       computed document:readme#viewers
 *         document:readme#viewers: stored
 *           user:anne
 *           group:eng#member: stored
 *             user:bob
 *       document:readme#parent → view
 *         folder:root#view: stored
 */
import type { UsersetTree } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import type { Subject, SubjectSet } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";

function setText(set: SubjectSet | undefined): string {
  if (set === undefined) return "?";
  const base = `${set.namespace}:${set.object}`;
  return set.relation === "" ? base : `${base}#${set.relation}`;
}

function subjectText(subject: Subject): string {
  return subject.ref.case === "id" ? subject.ref.value : subject.ref.case === "set" ? setText(subject.ref.value) : "?";
}

function sameSet(a: SubjectSet | undefined, b: SubjectSet | undefined): boolean {
  return a !== undefined && b !== undefined && a.namespace === b.namespace && a.object === b.object && a.relation === b.relation;
}

/** Renders the tree; `lines` receives one string per line, without indentation of the root. */
function render(node: UsersetTree, parent: SubjectSet | undefined, depth: number, label: string, lines: string[]): void {
  const indent = "  ".repeat(depth);
  const owner = sameSet(node.userset, parent) ? "" : `${setText(node.userset)}: `;
  const cut = node.truncated ? " (truncated)" : "";
  const line = (text: string): void => {
    lines.push(`${indent}${label}${text}${cut}`);
  };
  const kind = node.kind;
  switch (kind.case) {
    case "union":
    case "intersection":
      line(`${owner}${kind.case}`);
      for (const child of kind.value.children) render(child, node.userset, depth + 1, "", lines);
      return;
    case "exclusion":
      line(`${owner}exclusion`);
      if (kind.value.base !== undefined) render(kind.value.base, node.userset, depth + 1, "base: ", lines);
      if (kind.value.subtract !== undefined) render(kind.value.subtract, node.userset, depth + 1, "minus: ", lines);
      return;
    case "complement":
      line(`${owner}not`);
      if (kind.value.child !== undefined) render(kind.value.child, node.userset, depth + 1, "", lines);
      return;
    case "computed":
      // The label says where it points; the child (that userset's own node) then names it as its owner.
      line(`${owner}computed ${setText(kind.value.target)}`);
      if (kind.value.child !== undefined) render(kind.value.child, node.userset, depth + 1, "", lines);
      return;
    case "tupleToUserset":
      line(`${owner}${setText(node.userset).replace(/#[^#]*$/, "")}#${kind.value.tuplesetRelation} → ${kind.value.computedRelation}`);
      for (const child of kind.value.children) render(child, node.userset, depth + 1, "", lines);
      return;
    case "leaf": {
      const note = kind.value.cyclic ? " (cycle: already expanded on this path)" : kind.value.subjects.length === 0 ? " (none)" : "";
      line(`${owner}stored${note}`);
      // Subject sets are followed by their expansions in order; a subject set without one (cut by the node
      // cap) is listed as it is.
      const children = [...kind.value.children];
      for (const subject of kind.value.subjects) {
        const set = subject.ref.case === "set" && subject.ref.value.relation !== "" ? subject.ref.value : undefined;
        const child = set !== undefined && sameSet(children[0]?.userset, set) ? children.shift() : undefined;
        if (child !== undefined) render(child, node.userset, depth + 1, "", lines);
        else lines.push(`${"  ".repeat(depth + 1)}${subjectText(subject)}`);
      }
      return;
    }
    case undefined:
      line(`${owner}(empty)`);
      return;
  }
}

/** The indented text of a userset tree, one node per line, ending in a newline. */
export function expandTreeToText(tree: UsersetTree): string {
  const lines: string[] = [];
  render(tree, undefined, 0, "", lines);
  return `${lines.join("\n")}\n`;
}
