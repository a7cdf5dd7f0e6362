// The file piscina starts in each worker. Workers do not inherit the main thread's tsx loader, so this plain
// module registers it and then loads the TypeScript worker.
import { register } from "tsx/esm/api";

register();
const worker = await import("./evaluator-worker.ts");
export default worker.default;
