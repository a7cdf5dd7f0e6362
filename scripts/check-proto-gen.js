#!/usr/bin/env node
// Fails when the committed code under proto/gen is not what `buf generate` makes from proto/ today,
// so a .proto change can't land without its generated TypeScript (and nobody edits generated files).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), "gatehouse-proto-"));

function listFiles(dir) {
  const files = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...listFiles(path));
    else files.push(path);
  }
  return files;
}

try {
  execFileSync("npx", ["buf", "generate", "--output", out], { cwd: root, stdio: "inherit" });
  const fresh = join(out, "proto/gen");
  const committed = join(root, "proto/gen");
  const freshFiles = listFiles(fresh).map((f) => relative(fresh, f)).sort();
  const committedFiles = listFiles(committed).map((f) => relative(committed, f)).sort();
  const stale = [];
  for (const f of new Set([...freshFiles, ...committedFiles])) {
    const a = freshFiles.includes(f) ? readFileSync(join(fresh, f), "utf8") : undefined;
    const b = committedFiles.includes(f) ? readFileSync(join(committed, f), "utf8") : undefined;
    if (a !== b) stale.push(f);
  }
  if (stale.length > 0) {
    console.error(`proto/gen is stale; run \`npm run proto:gen\` and commit. Differing files:\n  ${stale.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`proto/gen is current (${freshFiles.length} files).`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
