/** Keto's read-port REST routes (reference §1.2 rows 1–8). */
import type { ServerResponse } from "node:http";
import { GatehouseError, InvalidArgumentError, NotFoundError } from "../../common/errors.js";
import type { RelationTuple } from "../../engine/tuple.js";
import { assertBatchSize, batchCheckAt, checkAt, expandKeto, listTuples, namespaceNames, pinRevision } from "./keto-operations.js";
import type { ResolvedKetoOptions } from "./options.js";
import { readJson, sendJson } from "./rest-io.js";
import { filterFromQuery, intParam, treeToJson, tupleFromJson, tupleFromQuery, tupleToJson } from "./rest-json.js";
import type { RestRoute } from "./rest-route.js";

/**
 * A check answered the REST way: an unknown namespace is "not allowed", not an error (Q1). With `mirror`
 * the status mirrors the answer (200 / 403, the "OrError" routes); without it, always 200 (`/openapi`).
 */
async function answerCheck(
  o: ResolvedKetoOptions,
  res: ServerResponse,
  tuple: RelationTuple,
  depth: number,
  mirror: boolean,
): Promise<void> {
  const allowed = await checkAt(o, tuple, depth, await pinRevision(o, undefined), "deny");
  sendJson(res, mirror && !allowed ? 403 : 200, { allowed });
}

function getCheck(o: ResolvedKetoOptions, mirror: boolean): RestRoute {
  return async (_req, res, url) => {
    const q = url.searchParams;
    await answerCheck(o, res, tupleFromQuery(q), intParam(q, "max-depth", 0), mirror);
  };
}

function postCheck(o: ResolvedKetoOptions, mirror: boolean, maxBodyBytes: number): RestRoute {
  return async (req, res, url) => {
    const depth = intParam(url.searchParams, "max-depth", 0);
    const tuple = tupleFromJson(await readJson(req, maxBodyBytes));
    await answerCheck(o, res, tuple, depth, mirror);
  };
}

function batchCheck(o: ResolvedKetoOptions, maxBodyBytes: number): RestRoute {
  return async (req, res, url) => {
    const depth = intParam(url.searchParams, "max-depth", 0);
    const body = await readJson(req, maxBodyBytes);
    const tuples = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as { tuples?: unknown }).tuples : undefined;
    if (!Array.isArray(tuples)) {
      throw new InvalidArgumentError('tuples: expected a body {"tuples":[…]}', { details: { field: "tuples" } });
    }
    assertBatchSize(o, tuples.length);
    const items = tuples.map((t: unknown, i): RelationTuple | GatehouseError => {
      try {
        return tupleFromJson(t, `tuples[${i}].`);
      } catch (err) {
        if (err instanceof GatehouseError) return err;
        throw err;
      }
    });
    const results = await batchCheckAt(o, items, depth, await pinRevision(o, undefined), "error");
    sendJson(res, 200, { results: results.map((r) => (r.error === "" ? { allowed: r.allowed } : r)) });
  };
}

function expand(o: ResolvedKetoOptions): RestRoute {
  return async (_req, res, url) => {
    const q = url.searchParams;
    const missing = ["namespace", "object", "relation"].filter((k) => !q.has(k));
    if (missing.length > 0) {
      throw new InvalidArgumentError(`missing required query parameter(s): ${missing.join(", ")}`, { details: { field: missing[0] ?? "" } });
    }
    const userset = { namespace: q.get("namespace") ?? "", object: q.get("object") ?? "", relation: q.get("relation") ?? "" };
    const { tree } = await expandKeto(o, userset, intParam(q, "max-depth", 0), undefined);
    // Q6: the spec declares 404 when there is nothing to expand (Keto's wire status is UNVERIFIED).
    if (tree === undefined) throw new NotFoundError("no relation tuple found", { reason: "no_relation_tuple_found" });
    sendJson(res, 200, treeToJson(tree));
  };
}

function list(o: ResolvedKetoOptions): RestRoute {
  return async (_req, res, url) => {
    const q = url.searchParams;
    const page = await listTuples(o, filterFromQuery(q), intParam(q, "page_size", 0), q.get("page_token") ?? "", undefined);
    sendJson(res, 200, { relation_tuples: page.tuples.map(tupleToJson), next_page_token: page.nextPageToken });
  };
}

function namespaces(o: ResolvedKetoOptions): RestRoute {
  return async (_req, res) => {
    sendJson(res, 200, { namespaces: namespaceNames(o).map((name) => ({ name })) });
  };
}

/**
 * The read routes by `METHOD path`. `/check` and `/expand` are the pre-v0.10 spellings (the check there
 * mirrored its answer in the status too).
 */
export function readRoutes(o: ResolvedKetoOptions, maxBodyBytes: number): Map<string, RestRoute> {
  return new Map<string, RestRoute>([
    ["GET /relation-tuples/check", getCheck(o, true)],
    ["POST /relation-tuples/check", postCheck(o, true, maxBodyBytes)],
    ["GET /relation-tuples/check/openapi", getCheck(o, false)],
    ["POST /relation-tuples/check/openapi", postCheck(o, false, maxBodyBytes)],
    ["POST /relation-tuples/batch/check", batchCheck(o, maxBodyBytes)],
    ["GET /relation-tuples/expand", expand(o)],
    ["GET /relation-tuples", list(o)],
    ["GET /namespaces", namespaces(o)],
    ["GET /check", getCheck(o, true)],
    ["POST /check", postCheck(o, true, maxBodyBytes)],
    ["GET /expand", expand(o)],
  ]);
}

