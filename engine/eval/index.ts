/**
 * The evaluator: check, expand and the two lookups over a schema and a graph view. Pure and synchronous,
 * with no I/O and no global state, so it can run inside worker threads.
 */
export { check, type CheckRequest } from "./check.js";
export { expand, DEFAULT_MAX_NODES, type ExpandOptions } from "./expand.js";
export type {
  ExpandComplement,
  ExpandComputed,
  ExpandExclusion,
  ExpandIntersection,
  ExpandLeaf,
  ExpandTree,
  ExpandTupleToUserset,
  ExpandUnion,
  UsersetRef,
} from "./expand-tree.js";
export { lookupResources, type LookupResourcesRequest, type LookupResourcesResult } from "./lookup-resources.js";
export {
  lookupSubjects,
  type LookupSubjectsOptions,
  type LookupSubjectsRequest,
  type LookupSubjectsResult,
} from "./lookup-subjects.js";
export { DEFAULT_MAX_DEPTH, DEFAULT_PAGE_SIZE, type EvalOptions, type PageOptions } from "./options.js";
