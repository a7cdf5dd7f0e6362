/**
 * Gatehouse's `permission` authorizer: one check against the authz engine, in-process or over gRPC (Oathkeeper
 * users reach Keto through `remote_json`; this saves the hop and the hand-written JSON). And
 * `keto_engine_acp_ory`, accepted so Oathkeeper rule files load, mapped onto the same check.
 *
 * `permission` takes either `check`, one template in Keto's syntax
 * (`Document:{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}#view@{{ .Subject }}`), or structured
 * templates `namespace`, `object`, `relation` and `subject_id` or `subject_set` {namespace, object, relation}
 * (default: the session's subject as a subject id).
 *
 * What the request controls can only lead to 403; what the rule controls (a namespace or relation the schema
 * lacks) is a misconfiguration and fails with 500 naming the rule, so it is noticed instead of looking like a
 * denial.
 */
import { GatehouseError, InvalidArgumentError } from "../../../../common/errors.js";
import { subjectId, subjectSet, type RelationTuple, type Subject } from "../../../../engine/tuple.js";
import { ConfigReader } from "../config-reader.js";
import type { PermissionChecker, PipelineDeps } from "../deps.js";
import { ForbiddenError, UpstreamServiceError } from "../errors.js";
import { templateDataOf } from "../template.js";
import type { HandlerFactory, PreparedAuthorizer, PrepareContext } from "../types.js";
import {
  builderOfParts,
  checkLiteralName,
  compileObjectRef,
  compilePart,
  compileTupleString,
  renderedName,
  renderedSubject,
  requireSubject,
  type TemplatePart,
  type TupleBuilder,
} from "./tuple-template.js";

const SESSION_SUBJECT = "{{ .Subject }}";
const STRUCTURED_KEYS = ["namespace", "object", "relation", "subject_id", "subject_set"] as const;

function requireChecker(deps: PipelineDeps, context: PrepareContext, handler: string): PermissionChecker {
  if (deps.permissions !== undefined) return deps.permissions;
  throw new InvalidArgumentError(
    `${context.where}: the ${handler} authorizer needs the authz engine: run the gateway with the authz engine in-process ` +
      "or point it at an authz read endpoint",
    { reason: "authz_engine_missing" },
  );
}

/** A prepared authorizer that checks the tuple `builder` makes of each request. */
function checkingAuthorizer(checker: PermissionChecker, builder: TupleBuilder, where: string): PreparedAuthorizer {
  return {
    async authorize(_request, session) {
      const tuple = builder.build(templateDataOf(session));
      let allowed: boolean;
      try {
        allowed = await checker.check(tuple);
      } catch (err) {
        throw refusalOf(err, tuple, builder, where);
      }
      if (!allowed) throw new ForbiddenError();
    },
  };
}

/** What a checker's failure becomes; see the file comment for why the two kinds differ. */
function refusalOf(err: unknown, tuple: RelationTuple, builder: TupleBuilder, where: string): unknown {
  if (!(err instanceof GatehouseError) || (err.code !== "invalid_argument" && err.code !== "not_found")) return err;
  if (!builder.fixedSchemaRefs) {
    return new ForbiddenError(`${where}: the request names a namespace or relation the authz schema does not define`, {
      reason: "unknown_permission",
      cause: err,
    });
  }
  return new UpstreamServiceError(
    `${where}: the authz engine refused the check on namespace "${tuple.namespace}" (fix the rule or the schema): ${err.message}`,
    { reason: "authorizer_misconfigured", details: { namespace: tuple.namespace, relation: tuple.relation }, cause: err },
  );
}

/** The structured form: one template per part of the tuple. */
function structuredBuilder(reader: ConfigReader, where: string): TupleBuilder {
  const part = (r: ConfigReader, key: string, label: string): TemplatePart => compilePart(r.requiredString(key), where, label);
  const name = (r: ConfigReader, key: string, label: string): TemplatePart => {
    const p = part(r, key, label);
    checkLiteralName(p, r.requiredString(key), where, label);
    return p;
  };
  const namespace = name(reader, "namespace", "config.namespace");
  const object = part(reader, "object", "config.object");
  const relation = name(reader, "relation", "config.relation");

  if (reader.has("subject_id") && reader.has("subject_set")) throw reader.error("subject_set", "cannot be combined with config.subject_id");
  let subject: (data: unknown) => Subject;
  if (reader.has("subject_set")) {
    const set = reader.child("subject_set");
    const setNamespace = name(set, "namespace", "config.subject_set.namespace");
    const setObject = part(set, "object", "config.subject_set.object");
    // No relation: the typed object itself (`User:alice`), as Keto models it.
    const setRelation = set.has("relation") && set.string("relation") !== "" ? name(set, "relation", "config.subject_set.relation") : undefined;
    subject = (data) =>
      requireSubject(
        subjectSet(
          renderedName(setNamespace.template.render(data), where, "subject namespace"),
          setObject.template.render(data).trim(),
          setRelation === undefined ? "" : renderedName(setRelation.template.render(data), where, "relation"),
        ),
        where,
      );
  } else {
    const id = compilePart(reader.string("subject_id") ?? SESSION_SUBJECT, where, "config.subject_id");
    subject = (data) => requireSubject(subjectId(id.template.render(data).trim()), where);
  }
  return builderOfParts(namespace, object, relation, subject, where);
}

/** Gatehouse's `permission` authorizer. */
export function permissionAuthorizer(deps: PipelineDeps): HandlerFactory<PreparedAuthorizer> {
  return {
    name: "permission",
    prepare(config, context) {
      const checker = requireChecker(deps, context, "permission");
      const reader = new ConfigReader(config, context.where);
      const structured = STRUCTURED_KEYS.filter((k) => reader.has(k));
      let builder: TupleBuilder;
      if (reader.has("check")) {
        if (structured.length > 0) {
          throw reader.error("check", `cannot be combined with ${structured.map((k) => `config.${k}`).join(", ")}: use one of the two forms`);
        }
        builder = compileTupleString(reader.requiredString("check"), context.where, "config.check");
      } else if (structured.length > 0) {
        builder = structuredBuilder(reader, context.where);
      } else {
        throw reader.error("check", "is required (a tuple such as Document:{{ .Extra.doc }}#view@{{ .Subject }}), or config.namespace, config.object and config.relation");
      }
      return checkingAuthorizer(checker, builder, context.where);
    },
  };
}

/**
 * Oathkeeper's `keto_engine_acp_ory`, mapped onto a relation-tuple check: `required_resource` renders to
 * `namespace:object`, `required_action` is the relation, `subject` (default the session's) the subject in
 * Keto's syntax. `base_url` and `flavor` are read but unused: current Keto has no ACP engine to send them to
 * (ory/oathkeeper#1220), and Gatehouse answers the check itself.
 */
export function ketoEngineAcpOryAuthorizer(deps: PipelineDeps): HandlerFactory<PreparedAuthorizer> {
  return {
    name: "keto_engine_acp_ory",
    prepare(config, context) {
      const checker = requireChecker(deps, context, "keto_engine_acp_ory");
      const reader = new ConfigReader(config, context.where);
      const where = context.where;
      reader.string("base_url");
      reader.string("flavor");
      const actionSource = reader.requiredString("required_action");
      const action = compilePart(actionSource, where, "config.required_action");
      checkLiteralName(action, actionSource, where, "config.required_action");
      const resource = compileObjectRef(reader.requiredString("required_resource"), where, "config.required_resource");
      const subject = compilePart(reader.string("subject") ?? SESSION_SUBJECT, where, "config.subject");
      const builder: TupleBuilder = {
        fixedSchemaRefs: resource.fixedNamespace && !action.dynamic,
        build(data) {
          const { namespace, object } = resource.build(data);
          return {
            namespace,
            object,
            relation: renderedName(action.template.render(data), where, "relation"),
            subject: renderedSubject(subject.template.render(data), where),
          };
        },
      };
      return checkingAuthorizer(checker, builder, where);
    },
  };
}
