import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { runValidate } from "../../cli/commands/validate.js";

const root = new URL("../../", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "gatehouse-validate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function validate(...paths: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runValidate(paths, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const model = `model
  schema 1.1
type user
type doc
  relations
    define viewer: [user]
    define editor: [user]
    define can_edit: editor`;

describe("gatehouse validate", () => {
  it("exits 0 and prints the summary when every assertion passes", async () => {
    const r = await validate(join(root, "examples/drive/drive.fga.yaml"), join(root, "examples/drive/drive.opl.fga.yaml"));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\d+ passed, 0 failed$/m);
  });

  it("exits 1 and prints expected vs actual for each failing assertion", async () => {
    const path = file(
      "failing.fga.yaml",
      `name: failing
model: |
${model.replace(/^/gm, "  ")}
tuples:
  - {user: user:anne, relation: viewer, object: doc:1}
tests:
  - name: wrong expectations
    check:
      - user: user:anne
        object: doc:1
        assertions: {viewer: false, editor: false}
    list_objects:
      - user: user:anne
        type: doc
        assertions: {viewer: [doc:1, doc:2]}
    list_users:
      - object: doc:1
        user_filter: [{type: user}]
        assertions:
          viewer: {users: [user:anne]}
`,
    );
    const r = await validate(path);
    expect(r.code).toBe(1);
    expect(r.out).toContain("FAIL [wrong expectations] check user:anne doc:1 viewer");
    expect(r.out).toMatch(/expected: false\n\s+actual:\s+true/);
    expect(r.out).toContain('expected: ["doc:1","doc:2"]');
    expect(r.out).toContain(`at ${path}:16:9`);
    expect(r.out).toMatch(/^2 passed, 2 failed$/m);
  });

  it("exits 2 with the position for invalid YAML", async () => {
    const r = await validate(file("bad.fga.yaml", "name: x\nmodel: [unclosed\n"));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.fga\.yaml:\d+:\d+: invalid YAML/);
  });

  it("exits 2 naming an unknown key and its position", async () => {
    const r = await validate(file("key.fga.yaml", `name: x\nmodel: |\n${model.replace(/^/gm, "  ")}\ntestz: []\n`));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/key\.fga\.yaml:11:1: unknown key "testz"/);
  });

  it("exits 2 with the model's line:column for an invalid model", async () => {
    const path = file("model.fga.yaml", `name: x\nmodel: |\n  model\n    schema 1.1\n  type doc\n    relations\n      define viewer: [person]\n`);
    const r = await validate(path);
    expect(r.code).toBe(2);
    // `person` sits on line 7 of the store file, column 23 (the block's two-space indent included).
    expect(r.err).toMatch(/model\.fga\.yaml:7:23/);
    expect(r.err).toMatch(/person/);
  });

  it("exits 2 pointing at a tuple the model rejects", async () => {
    const path = file(
      "tuple.fga.yaml",
      `name: x\nmodel: |\n${model.replace(/^/gm, "  ")}\ntuples:\n  - {user: user:anne, relation: viewer, object: doc:1}\n  - {user: user:anne, relation: can_edit, object: doc:1}\n`,
    );
    const r = await validate(path);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${path}:13:5`);
    expect(r.err).toMatch(/permission/);
  });

  it("rejects conditions, which come in a later issue", async () => {
    const path = file(
      "ctx.fga.yaml",
      `name: x\nmodel: |\n${model.replace(/^/gm, "  ")}\ntests:\n  - name: t\n    check:\n      - user: user:anne\n        object: doc:1\n        context: {ip: 1}\n        assertions: {viewer: true}\n`,
    );
    const r = await validate(path);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/context.*not supported/);
  });

  it("runs as the gatehouse command", async () => {
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [join(root, "bin/gatehouse.js"), "validate", join(root, "examples/drive/drive.fga.yaml")]);
    expect(stdout).toMatch(/^\d+ passed, 0 failed$/m);
    const failed = await run(process.execPath, [join(root, "bin/gatehouse.js"), "validate", join(dir, "missing.fga.yaml")]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed).toMatchObject({ code: 2 });
  });
});
