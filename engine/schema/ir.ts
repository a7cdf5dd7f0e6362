/**
 * The one intermediate representation that both schema languages (OPL and the OpenFGA DSL) compile to and
 * that the evaluator walks. It is plain data (no classes, no functions) so it can be cloned into worker
 * threads.
 */

/** Which front end produced a schema. */
export type SchemaLanguage = "opl" | "fga";

/** A 1-based position in the schema source. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** An error or warning about a schema source, with its position and the construct it concerns. */
export interface Diagnostic {
  readonly severity: "error" | "warning";
  readonly message: string;
  /** Start of the offending text (1-based). */
  readonly start: SourcePosition;
  /** End of the offending text (1-based, inclusive of the last character), when known. */
  readonly end?: SourcePosition;
  /**
   * What kind of problem: `syntax`, `unknown_type`, `unknown_relation`, `invalid_subject_set`,
   * `no_base_case`, `duplicate_name`, `unsupported`, `precedence`.
   */
  readonly construct: string;
}

/**
 * A subject type a relation accepts in stored tuples:
 * - `{type: "user"}`: typed objects `user:anne` (Keto: subject set with empty relation);
 * - `{type: "user", wildcard: true}`: the wildcard `user:*`, meaning every `user`;
 * - `{type: "group", relation: "member"}`: subject sets `group:eng#member`.
 */
export interface AllowedSubjectType {
  readonly type: string;
  readonly relation?: string;
  readonly wildcard?: boolean;
  readonly pos: SourcePosition;
}

/**
 * A userset rewrite (Zanzibar §2.3.1). Evaluating one for `object` and `subject` answers whether the subject
 * is in the userset.
 */
export type Rewrite =
  /** The relation's own stored tuples: direct subjects, wildcards, and nested subject sets. */
  | { readonly kind: "this"; readonly pos: SourcePosition }
  /** Membership in another relation or permission of the same object. */
  | { readonly kind: "computed"; readonly relation: string; readonly pos: SourcePosition }
  /**
   * For every subject `T:x` stored in the object's `tupleset` relation, membership in `T:x#computed`
   * (OPL `traverse`, OpenFGA `computed from tupleset`).
   */
  | {
      readonly kind: "tupleToUserset";
      readonly tupleset: string;
      readonly computed: string;
      readonly pos: SourcePosition;
    }
  | { readonly kind: "union"; readonly children: readonly Rewrite[]; readonly pos: SourcePosition }
  | { readonly kind: "intersection"; readonly children: readonly Rewrite[]; readonly pos: SourcePosition }
  /** In `base` and not in `subtract` (OpenFGA `but not`). */
  | { readonly kind: "exclusion"; readonly base: Rewrite; readonly subtract: Rewrite; readonly pos: SourcePosition }
  /** Not in `child` (OPL's standalone `!`): a true complement, with no base set. */
  | { readonly kind: "complement"; readonly child: Rewrite; readonly pos: SourcePosition };

/** A relation (stored tuples) or permission (computed only) of a type. */
export interface RelationDef {
  readonly name: string;
  /**
   * `relation`: tuples may be stored under it (OPL `related`, OpenFGA defines with a `[…]` type list).
   * `permission`: computed only (OPL `permits`, OpenFGA defines without a type list).
   */
  readonly kind: "relation" | "permission";
  /** Subject types accepted in stored tuples; empty for a permission. */
  readonly directTypes: readonly AllowedSubjectType[];
  /** How membership is computed; a plain relation is `{kind: "this"}`. */
  readonly rewrite: Rewrite;
  readonly pos: SourcePosition;
}

/** A type (OpenFGA) or namespace/class (Keto). */
export interface TypeDef {
  readonly name: string;
  /** Relations and permissions by name, in declaration order. */
  readonly relations: ReadonlyMap<string, RelationDef>;
  readonly pos: SourcePosition;
}

/** A compiled schema. */
export interface Schema {
  readonly language: SchemaLanguage;
  /** Types by name, in declaration order. */
  readonly types: ReadonlyMap<string, TypeDef>;
  /**
   * Whether bare subject ids (Keto's untyped `subject_id`, e.g. `john`) may be stored in any relation.
   * True for OPL (Keto accepts them), false for OpenFGA (every subject is typed).
   */
  readonly bareSubjectIds: boolean;
  /**
   * Keto's non-strict mode (its default, OPL only): a write needs only a known namespace; a relation the
   * schema does not declare is a plain relation; tuples stored under a permit count as members of it; and
   * every stored subject set is followed, whatever the declared types. Absent means strict.
   */
  readonly ketoNonStrict?: boolean;
}

/** The result of compiling a schema text: the schema when there is no error, and every diagnostic. */
export interface CompileResult {
  readonly schema: Schema | undefined;
  readonly diagnostics: readonly Diagnostic[];
}
