/**
 * A view with extra tuples laid over another view: the contextual tuples of one request, evaluated as if
 * written and never stored. The evaluator cannot tell it from a snapshot view.
 */
import type { RelationTuple, Subject, SubjectSet } from "../tuple.js";
import { formatSubject, subjectsEqual } from "../tuple.js";
import type { GraphView, ObjectRelation } from "./graph-view.js";

const SEP = "\u0000";

function usersetKey(namespace: string, object: string, relation: string): string {
  return `${namespace}${SEP}${object}${SEP}${relation}`;
}

function subjectKind(subject: Subject): string {
  // Bare ids and typed objects format alike (`a:b` could be either), so the kind is part of the key.
  return `${subject.kind}${SEP}${formatSubject(subject)}`;
}

/** Lays `tuples` over `base`. Tuples already live in `base` are not repeated. */
export function createOverlayView(base: GraphView, tuples: readonly RelationTuple[]): GraphView {
  if (tuples.length === 0) return base;
  const forward = new Map<string, Subject[]>();
  const reverse = new Map<string, ObjectRelation[]>();
  const objectsByType = new Map<string, Set<string>>();
  const addObject = (namespace: string, id: string): void => {
    let ids = objectsByType.get(namespace);
    if (ids === undefined) objectsByType.set(namespace, (ids = new Set()));
    ids.add(id);
  };

  for (const t of tuples) {
    if (base.hasTuple(t.namespace, t.object, t.relation, t.subject)) continue;
    const key = usersetKey(t.namespace, t.object, t.relation);
    const subjects = forward.get(key) ?? [];
    if (subjects.some((s) => subjectsEqual(s, t.subject))) continue;
    subjects.push(t.subject);
    forward.set(key, subjects);
    const back = reverse.get(subjectKind(t.subject)) ?? [];
    back.push({ namespace: t.namespace, object: t.object, relation: t.relation });
    reverse.set(subjectKind(t.subject), back);
    addObject(t.namespace, t.object);
    if (t.subject.kind === "set") addObject(t.subject.namespace, t.subject.object);
    else addObject("", t.subject.id);
  }

  return {
    revision: base.revision,
    hasTuple(namespace, object, relation, subject) {
      if (base.hasTuple(namespace, object, relation, subject)) return true;
      return (forward.get(usersetKey(namespace, object, relation)) ?? []).some((s) => subjectsEqual(s, subject));
    },
    *subjects(namespace, object, relation) {
      yield* base.subjects(namespace, object, relation);
      yield* forward.get(usersetKey(namespace, object, relation)) ?? [];
    },
    *subjectSets(namespace, object, relation) {
      yield* base.subjectSets(namespace, object, relation);
      for (const s of forward.get(usersetKey(namespace, object, relation)) ?? []) {
        if (s.kind === "set" && s.relation !== "") yield s as SubjectSet;
      }
    },
    *objectsWithSubject(subject, namespace, relation) {
      yield* base.objectsWithSubject(subject, namespace, relation);
      for (const r of reverse.get(subjectKind(subject)) ?? []) {
        if ((namespace === undefined || r.namespace === namespace) && (relation === undefined || r.relation === relation)) yield r;
      }
    },
    *objectsOfType(namespace) {
      const extra = objectsByType.get(namespace);
      if (extra === undefined) {
        yield* base.objectsOfType(namespace);
        return;
      }
      const seen = new Set<string>();
      for (const id of base.objectsOfType(namespace)) {
        seen.add(id);
        yield id;
      }
      for (const id of extra) if (!seen.has(id)) yield id;
    },
  };
}
