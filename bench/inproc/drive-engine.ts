/** Opens the engine on a Drive dataset (streamed through the read-only dataset store). */
import { Drive, DRIVE_SCHEMA_FGA, DRIVE_SIZES, type DriveSize } from "../datasets/drive.js";
import { createDatasetStore } from "../support/dataset-store.js";
import { openBenchEngine, type BenchEngine, type EngineSetup } from "../support/engine.js";

/** Builds the Drive dataset of a named size (the layout only; tuples stream when the engine reads them). */
export function driveOfSize(size: DriveSize): Drive {
  return new Drive(DRIVE_SIZES[size]);
}

/** An engine with `setup` over the Drive dataset; the caller closes it. */
export function openDriveEngine(drive: Drive, setup: EngineSetup): Promise<BenchEngine> {
  const store = createDatasetStore({ text: DRIVE_SCHEMA_FGA, language: "fga" }, () => drive.tuples());
  return openBenchEngine(store, setup);
}
