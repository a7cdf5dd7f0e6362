/** The in-memory tuple graph: MVCC snapshot and the read-only view the evaluator walks. */
export { GraphSnapshot, type GraphSnapshotStats } from "./graph-snapshot.js";
export type { GraphView, ObjectRelation } from "./graph-view.js";
export { createOverlayView } from "./overlay-view.js";
