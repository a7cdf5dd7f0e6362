/**
 * Runs a bench script in a fresh Node process (`node --import tsx --expose-gc …`), so one figure's heap and
 * resident memory never leak into another's numbers. The child writes its result as JSON to a file named on
 * its command line; stdout and stderr pass through (progress lines).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Options of `runChild`. */
export interface ChildOptions {
  /** Killed (SIGKILL) after this long; the run then fails. */
  readonly timeoutMs: number;
  /** Extra Node flags, e.g. `--max-old-space-size=16384`. */
  readonly nodeFlags?: readonly string[];
}

/**
 * Runs `script` (a path) with `args` plus `--out <file>` and returns the JSON the child wrote there.
 * Rejects when the child fails, times out or writes nothing.
 */
export async function runChild<T>(script: string, args: readonly string[], options: ChildOptions): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-"));
  const out = join(dir, "result.json");
  try {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--expose-gc", ...(options.nodeFlags ?? []), script, ...args, "--out", out],
      // stdout of the child goes to our stderr: our stdout carries only the table.
      { stdio: ["ignore", process.stderr, "inherit"] },
    );
    const code = await new Promise<number | string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve(`timed out after ${Math.round(options.timeoutMs / 1000)} s`);
      }, options.timeoutMs);
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on("exit", (exitCode, signal) => {
        clearTimeout(timer);
        resolve(exitCode ?? `signal ${signal ?? "?"}`);
      });
    });
    if (code !== 0) throw new Error(`${script} ${args.join(" ")}: ${typeof code === "number" ? `exit code ${code}` : code}`);
    let text: string;
    try {
      text = readFileSync(out, "utf8");
    } catch {
      throw new Error(`${script} ${args.join(" ")} wrote no result`);
    }
    return JSON.parse(text) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
