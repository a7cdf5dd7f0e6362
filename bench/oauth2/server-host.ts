/**
 * Child-process entry of figure group 8: starts one server (`sides.ts`) and reports it on stdout as one line,
 * `READY <json SideInfo>`. It stops when its stdin closes (the bench ended or died) or on SIGINT/SIGTERM.
 *
 *   node --import tsx bench/oauth2/server-host.ts --side noop|peer|gatehouse [--store memory|pglite]
 */
import { parseArgs } from "node:util";
import { SIDE_NAMES, STORE_KINDS, startSide, type SideName, type StoreKind } from "./sides.js";

const { values } = parseArgs({ options: { side: { type: "string" }, store: { type: "string", default: "memory" } } });
const side = values.side as SideName;
const store = values.store as StoreKind;
if (!SIDE_NAMES.includes(side) || !STORE_KINDS.includes(store)) {
  process.stderr.write(`usage: server-host.ts --side ${SIDE_NAMES.join("|")} [--store ${STORE_KINDS.join("|")}]\n`);
  process.exit(2);
}

const started = await startSide(side, store);
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  try {
    await started.close();
  } finally {
    process.exit(0);
  }
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
process.stdin.on("end", () => void stop());
process.stdin.on("close", () => void stop());
process.stdin.resume();
process.stdout.write(`READY ${JSON.stringify(started.info)}\n`);
