/**
 * `gatehouse validate FILE...`: runs OpenFGA store files against OPL or OpenFGA models.
 * Exit 0 when every assertion passes, 1 when any fails, 2 when a file is invalid.
 */
import { parseArgs } from "node:util";
import { InvalidStoreFileError, loadStoreFile } from "../store-file/load-store-file.js";
import { runStoreFile } from "../store-file/run-store-file.js";

/** Where the command writes; tests pass their own. */
export interface ValidateOutput {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processOutput: ValidateOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Runs `gatehouse validate` with its arguments; returns the exit code. */
export async function runValidate(args: readonly string[], output: ValidateOutput = processOutput): Promise<number> {
  let files: string[];
  try {
    const parsed = parseArgs({ args: [...args], allowPositionals: true, options: {} });
    files = parsed.positionals;
  } catch (err) {
    output.err(`gatehouse validate: ${(err as Error).message}\n`);
    return 2;
  }
  if (files.length === 0) {
    output.err("gatehouse validate: give at least one store file (*.fga.yaml)\n");
    return 2;
  }
  let passed = 0;
  let failed = 0;
  let invalid = false;
  for (const path of files) {
    try {
      const file = loadStoreFile(path);
      const report = await runStoreFile(file);
      output.out(`${path}: ${file.name} (${file.language}): ${report.passed} passed, ${report.failed} failed\n`);
      for (const w of report.warnings) output.out(`  ${w}\n`);
      for (const f of report.failures) {
        output.out(`  FAIL [${f.test}] ${f.query}\n    expected: ${f.expected}\n    actual:   ${f.actual}\n    at ${f.where}\n`);
      }
      passed += report.passed;
      failed += report.failed;
    } catch (err) {
      if (!(err instanceof InvalidStoreFileError)) throw err;
      invalid = true;
      output.err(`invalid store file: ${err.message}\n`);
    }
  }
  output.out(`${passed} passed, ${failed} failed\n`);
  if (invalid) return 2;
  return failed > 0 ? 1 : 0;
}
