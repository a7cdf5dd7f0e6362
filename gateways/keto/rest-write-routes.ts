/** Keto's write-port REST routes (reference §1.2 rows 9–11). */
import { InvalidArgumentError } from "../../common/errors.js";
import type { TupleWrite } from "../../engine/store/tuple-store.js";
import { deleteMatching, requireNamespace, transact } from "./keto-operations.js";
import type { ResolvedKetoOptions } from "./options.js";
import { readBody, readJson, sendJson, sendNoContent } from "./rest-io.js";
import { filterFromQuery, tupleFromJson, tupleToJson, tupleToQuery } from "./rest-json.js";
import type { RestRoute } from "./rest-route.js";

/** The query parameters DELETE accepts (Keto's `validate.NoExtraQueryParams`). */
const DELETE_PARAMS = new Set([
  "namespace",
  "object",
  "relation",
  "subject_id",
  "subject_set.namespace",
  "subject_set.object",
  "subject_set.relation",
]);

/** PUT: insert one tuple (idempotent); 201 with the tuple and `Location: /relation-tuples?<tuple>`. */
function create(o: ResolvedKetoOptions, maxBodyBytes: number): RestRoute {
  return async (req, res) => {
    const tuple = tupleFromJson(await readJson(req, maxBodyBytes));
    requireNamespace(o, tuple.namespace, "namespace");
    await o.engine.write([{ op: "touch", tuple }]);
    sendJson(res, 201, tupleToJson(tuple), { location: `/relation-tuples?${tupleToQuery(tuple)}` });
  };
}

/** DELETE: every tuple matching the query; `namespace` required, no other parameters, no body; 204. */
function remove(o: ResolvedKetoOptions, maxBodyBytes: number): RestRoute {
  return async (req, res, url) => {
    const q = url.searchParams;
    const extra = [...new Set(q.keys())].filter((k) => !DELETE_PARAMS.has(k));
    if (extra.length > 0) {
      throw new InvalidArgumentError(`unknown query parameter(s): ${extra.join(", ")}`, { details: { field: extra[0] ?? "" } });
    }
    if (!q.has("namespace")) {
      throw new InvalidArgumentError("namespace: the query parameter is required", { details: { field: "namespace" } });
    }
    if ((await readBody(req, maxBodyBytes)).length > 0) {
      throw new InvalidArgumentError("body: must be empty; the relation query goes in the query string", { details: { field: "body" } });
    }
    await deleteMatching(o, filterFromQuery(q));
    sendNoContent(res);
  };
}

/** PATCH: `[{action: "insert"|"delete", relation_tuple}]`, all in one transaction; 204. */
function patch(o: ResolvedKetoOptions, maxBodyBytes: number): RestRoute {
  return async (req, res) => {
    const body = await readJson(req, maxBodyBytes);
    if (!Array.isArray(body)) {
      throw new InvalidArgumentError('body: expected an array of {"action","relation_tuple"}', { details: { field: "body" } });
    }
    const writes: TupleWrite[] = body.map((item: unknown, i): TupleWrite => {
      if (typeof item !== "object" || item === null || Array.isArray(item)) {
        throw new InvalidArgumentError(`[${i}]: expected an object {"action","relation_tuple"}`, { details: { field: `[${i}]` } });
      }
      const { action, relation_tuple: tuple } = item as { action?: unknown; relation_tuple?: unknown };
      if (action !== "insert" && action !== "delete") {
        throw new InvalidArgumentError(`[${i}].action: unknown action ${JSON.stringify(action ?? null)}`, {
          details: { field: `[${i}].action` },
          reason: "unknown_action",
        });
      }
      if (tuple === undefined || tuple === null) {
        throw new InvalidArgumentError(`[${i}].relation_tuple: relation_tuple is missing`, { details: { field: `[${i}].relation_tuple` } });
      }
      return { op: action === "insert" ? "touch" : "delete", tuple: tupleFromJson(tuple, `[${i}].relation_tuple.`) };
    });
    await transact(o, writes, (i) => `[${i}].relation_tuple`);
    sendNoContent(res);
  };
}

/** The write routes by `METHOD path`; `/relation-tuples` is the pre-v0.10 spelling of `/admin/relation-tuples`. */
export function writeRoutes(o: ResolvedKetoOptions, maxBodyBytes: number): Map<string, RestRoute> {
  const routes = new Map<string, RestRoute>();
  for (const base of ["/admin/relation-tuples", "/relation-tuples"]) {
    routes.set(`PUT ${base}`, create(o, maxBodyBytes));
    routes.set(`DELETE ${base}`, remove(o, maxBodyBytes));
    routes.set(`PATCH ${base}`, patch(o, maxBodyBytes));
  }
  return routes;
}
