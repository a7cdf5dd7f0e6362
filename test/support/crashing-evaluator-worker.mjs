// An evaluator worker that exits abruptly while a shared counter (workerData.crashes, an Int32Array over a
// SharedArrayBuffer) is above zero, and otherwise evaluates normally: tests use it to prove the pool survives.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
const real = await import("../../engine/pool/evaluator-worker.ts");

export default function evaluate(task) {
  const crashes = workerData.crashes;
  if (Atomics.load(crashes, 0) > 0) {
    Atomics.sub(crashes, 0, 1);
    process.exit(1);
  }
  return real.default(task);
}
