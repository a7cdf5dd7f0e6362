/**
 * Relation tuples built from templates at request time, for the `permission` and `keto_engine_acp_ory`
 * authorizers.
 *
 * Request data (capture groups, claims) must stay data: a capture group holding `x#owner@Group:admins` must
 * not rewrite the tuple it is spliced into. So a template written in Keto's string syntax is split at the
 * separators (`:`, `#`, `@`) of its literal text when the rule is loaded, and each part is rendered on its
 * own; separators in rendered values are then part of an id, never syntax. Only a template whose separators
 * come from actions (or whose actions span a separator) is rendered whole and parsed.
 *
 * Every problem a request can cause (an invalid part, no subject) is a `ForbiddenError`, never a 500: the
 * client controls the input, and the answer to bad input is "no".
 */
import { InvalidArgumentError } from "../../../../common/errors.js";
import { parseSubject, parseTuple, type RelationTuple, type Subject } from "../../../../engine/tuple.js";
import { ForbiddenError } from "../errors.js";
import { compileTemplate, type CompiledTemplate } from "../template.js";

/** A compiled template and whether it has actions at all (a part without any is fixed by the rule). */
export interface TemplatePart {
  readonly template: CompiledTemplate;
  readonly dynamic: boolean;
}

/** Builds the tuple of one request. */
export interface TupleBuilder {
  /** The tuple for `data` (the templates' data); `ForbiddenError` when the request makes it invalid. */
  build(data: unknown): RelationTuple;
  /**
   * True when the namespace and relation are written literally in the rule: an engine refusing them then
   * means the rule does not fit the schema (a misconfiguration), not that the request asked for nonsense.
   */
  readonly fixedSchemaRefs: boolean;
}

/** Characters that are syntax in Keto's tuple strings, plus whitespace: never part of a namespace or relation. */
const NOT_IN_NAME = /[:#@\s]/;

/** Compiles one template part; `key` is the config key for errors (e.g. `config.namespace`). */
export function compilePart(source: string, where: string, key: string): TemplatePart {
  return { template: compileTemplate(source, `${where}: ${key}`), dynamic: hasAction(source) };
}

/** Whether a template source contains any `{{ … }}` action. */
export function hasAction(source: string): boolean {
  return source.includes("{{");
}

/**
 * Refuses a literal namespace or relation that can never be valid (checked when the rule is loaded, so at
 * request time only rendered values can be wrong).
 */
export function checkLiteralName(part: TemplatePart, source: string, where: string, key: string): void {
  if (part.dynamic) return;
  const name = source.trim();
  if (name === "") throw new InvalidArgumentError(`${where}: ${key} must not be empty`, { details: { field: key } });
  if (NOT_IN_NAME.test(name)) {
    throw new InvalidArgumentError(`${where}: ${key} ${JSON.stringify(name)} must not contain ':', '#', '@' or whitespace`, {
      details: { field: key },
    });
  }
}

/**
 * Indexes of `char` in the literal text of a Go template, that is outside `{{ … }}` actions (whose strings
 * and comments may themselves contain `}}`).
 */
export function literalIndexes(source: string, char: string): number[] {
  const found: number[] = [];
  let i = 0;
  while (i < source.length) {
    if (source.startsWith("{{", i)) {
      i = endOfAction(source, i + 2);
      continue;
    }
    if (source[i] === char) found.push(i);
    i++;
  }
  return found;
}

function endOfAction(source: string, from: number): number {
  let i = from;
  // A comment `{{/* … */}}` (optionally with trim markers) may hold quotes that never close.
  const body = source.slice(i).replace(/^-\s+/, "");
  if (body.startsWith("/*")) {
    const end = source.indexOf("*/", i);
    i = end < 0 ? source.length : end + 2;
  }
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '"' || c === "'") {
      i = endOfQuoted(source, i + 1, c);
      continue;
    }
    if (c === "`") {
      const end = source.indexOf("`", i + 1);
      i = end < 0 ? source.length : end + 1;
      continue;
    }
    if (source.startsWith("}}", i)) return i + 2;
    i++;
  }
  return source.length;
}

function endOfQuoted(source: string, from: number, quote: string): number {
  let i = from;
  while (i < source.length) {
    const c = source[i];
    if (c === "\\") i += 2;
    else if (c === quote) return i + 1;
    else i++;
  }
  return source.length;
}

/** Compiles each source, or returns undefined when one does not compile on its own (an action spans a cut). */
function tryCompileParts(sources: readonly string[], where: string, key: string): TemplatePart[] | undefined {
  try {
    return sources.map((s) => compilePart(s, where, key));
  } catch (err) {
    if (err instanceof InvalidArgumentError) return undefined;
    throw err;
  }
}

/** A `ForbiddenError` about one part of the tuple of this request. */
function invalidPart(where: string, what: string): ForbiddenError {
  return new ForbiddenError(`${where}: ${what}`, { reason: "invalid_permission_tuple" });
}

/** A rendered namespace or relation, trimmed; `ForbiddenError` when the request made it unusable. */
export function renderedName(value: string, where: string, what: "namespace" | "relation" | "subject namespace"): string {
  const name = value.trim();
  if (name === "") throw invalidPart(where, `the ${what} rendered for this request is empty`);
  if (NOT_IN_NAME.test(name)) throw invalidPart(where, `the ${what} rendered for this request is invalid`);
  return name;
}

/** Refuses a subject that names nobody (an anonymous request, e.g. after the `noop` authenticator). */
export function requireSubject(subject: Subject, where: string): Subject {
  const empty = subject.kind === "id" ? subject.id === "" : subject.object === "";
  if (empty) throw invalidPart(where, "the request has no subject to check the permission of");
  return subject;
}

/** Parses a rendered subject in Keto's syntax (`id`, `T:id`, `T:id#relation`). */
export function renderedSubject(value: string, where: string): Subject {
  const text = value.trim();
  if (text === "") throw invalidPart(where, "the request has no subject to check the permission of");
  let subject: Subject;
  try {
    subject = parseSubject(text);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw invalidPart(where, "the subject rendered for this request is invalid");
    throw err;
  }
  return checkedSubject(subject, where);
}

/** A parsed subject whose parts are usable and which names somebody. */
function checkedSubject(subject: Subject, where: string): Subject {
  if (subject.kind === "set") {
    renderedName(subject.namespace, where, "subject namespace");
    if (subject.relation !== "" && NOT_IN_NAME.test(subject.relation)) {
      throw invalidPart(where, "the subject relation rendered for this request is invalid");
    }
  }
  return requireSubject(subject, where);
}

/**
 * The builder of a template in Keto's tuple syntax `namespace:object#relation@subject` (config `check`).
 * Syntax errors of the template are refused here, naming `key`.
 */
/** A builder from separately compiled namespace, object and relation parts and a subject function. */
export function builderOfParts(
  namespace: TemplatePart,
  object: TemplatePart,
  relation: TemplatePart,
  subject: (data: unknown) => Subject,
  where: string,
): TupleBuilder {
  return {
    fixedSchemaRefs: !namespace.dynamic && !relation.dynamic,
    build: (data) => ({
      namespace: renderedName(namespace.template.render(data), where, "namespace"),
      object: object.template.render(data),
      relation: renderedName(relation.template.render(data), where, "relation"),
      subject: subject(data),
    }),
  };
}

export function compileTupleString(source: string, where: string, key: string): TupleBuilder {
  // Compiled whole first, so a syntax error is reported against the template as written.
  const whole = compilePart(source, where, key);
  const at = literalIndexes(source, "@")[0];
  const hash = at === undefined ? undefined : literalIndexes(source.slice(0, at), "#").at(-1);
  const colon = hash === undefined ? undefined : literalIndexes(source.slice(0, hash), ":")[0];
  if (at !== undefined && hash !== undefined && colon !== undefined) {
    const sources = [source.slice(0, colon), source.slice(colon + 1, hash), source.slice(hash + 1, at), source.slice(at + 1)];
    const parts = tryCompileParts(sources, where, key);
    if (parts !== undefined) {
      const [namespace, object, relation, subject] = parts as [TemplatePart, TemplatePart, TemplatePart, TemplatePart];
      checkLiteralName(namespace, sources[0] as string, where, `${key} (namespace)`);
      checkLiteralName(relation, sources[2] as string, where, `${key} (relation)`);
      return builderOfParts(namespace, object, relation, (data) => renderedSubject(subject.template.render(data), where), where);
    }
  }
  if (!whole.dynamic) {
    // A literal tuple (odd, but valid): parse it now so a typo is refused at load.
    try {
      parseTuple(source, key);
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw new InvalidArgumentError(`${where}: ${err.message}`, { details: { field: key } });
      throw err;
    }
  }
  return {
    fixedSchemaRefs: !whole.dynamic,
    build: (data) => {
      const text = whole.template.render(data);
      let tuple: RelationTuple;
      try {
        tuple = parseTuple(text, "tuple");
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err;
        const field = typeof err.details.field === "string" ? err.details.field : "";
        throw invalidPart(
          where,
          field.endsWith("subject")
            ? "the subject rendered for this request is invalid"
            : "the tuple rendered for this request is not of the form namespace:object#relation@subject",
        );
      }
      return {
        namespace: renderedName(tuple.namespace, where, "namespace"),
        object: tuple.object,
        relation: renderedName(tuple.relation, where, "relation"),
        subject: checkedSubject(tuple.subject, where),
      };
    },
  };
}

/**
 * The namespace and object of a `namespace:object` template (`keto_engine_acp_ory`'s `required_resource`).
 * The namespace must be written literally before a literal `:`: a namespace picked by the request would let
 * clients choose what they are checked against.
 */
export function compileObjectRef(
  source: string,
  where: string,
  key: string,
): { readonly fixedNamespace: boolean; build(data: unknown): { namespace: string; object: string } } {
  const whole = compilePart(source, where, key);
  const colon = literalIndexes(source, ":")[0];
  if (colon === undefined) {
    throw new InvalidArgumentError(
      `${where}: ${key} must be of the form namespace:object with the namespace and ':' written literally, got ${JSON.stringify(source)}`,
      { details: { field: key } },
    );
  }
  const sources = [source.slice(0, colon), source.slice(colon + 1)];
  const parts = tryCompileParts(sources, where, key);
  if (parts !== undefined) {
    const [namespace, object] = parts as [TemplatePart, TemplatePart];
    checkLiteralName(namespace, sources[0] as string, where, `${key} (namespace)`);
    return {
      fixedNamespace: !namespace.dynamic,
      build: (data) => ({ namespace: renderedName(namespace.template.render(data), where, "namespace"), object: object.template.render(data) }),
    };
  }
  return {
    fixedNamespace: false,
    build: (data) => {
      const text = whole.template.render(data);
      const at = text.indexOf(":");
      if (at < 0) throw invalidPart(where, "the resource rendered for this request is not of the form namespace:object");
      return { namespace: renderedName(text.slice(0, at), where, "namespace"), object: text.slice(at + 1) };
    },
  };
}
