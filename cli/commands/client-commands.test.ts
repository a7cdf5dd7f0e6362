/**
 * The client commands against an in-process server on free ports (memory store, an API key on the write
 * plane): schema, tuples, check, expand, namespaces, the error paths and exit codes, and the real
 * `bin/gatehouse.js check` as a child process.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../gateways/auth/api-keys.js";
import { loopbackConfig } from "../config/config.js";
import type { ClientIo } from "../client/io.js";
import { runCheck } from "./check.js";
import { runExpand } from "./expand.js";
import { runNamespaces } from "./namespaces.js";
import { runSchema } from "./schema.js";
import { startServer, type RunningServer } from "./serve.js";
import { runTuples } from "./tuples.js";

const root = new URL("../../", import.meta.url).pathname;
const KEY = "cli-test-key";
const dir = mkdtempSync(join(tmpdir(), "gatehouse-cli-"));

function file(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
  return path;
}

interface Result {
  code: number;
  out: string;
  err: string;
}

type Runner = (args: readonly string[], io: ClientIo) => Promise<number>;

let server: RunningServer;
let env: Record<string, string>;

/** Runs a command with captured output and the test server's endpoints and key in its environment. */
async function run(runner: Runner, args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<Result> {
  let out = "";
  let err = "";
  const code = await runner(args, { out: (t) => (out += t), err: (t) => (err += t), env: { ...env, ...extraEnv } });
  return { code, out, err };
}

const drive = join(root, "examples/drive/drive.keto.ts");

beforeAll(async () => {
  const config = loopbackConfig();
  config.serve.writeApiKeyHashes = [hashApiKey(KEY)];
  config.serve.shutdownTimeoutMillis = 1_000;
  server = await startServer(config, () => {});
  env = {
    GATEHOUSE_READ_ENDPOINT: `127.0.0.1:${server.planes.ports.read}`,
    GATEHOUSE_WRITE_ENDPOINT: `127.0.0.1:${server.planes.ports.write}`,
    GATEHOUSE_API_KEY: KEY,
  };
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("usage errors exit 2 before any request", () => {
  it.each([
    ["check without a tuple", runCheck, []],
    ["check with a malformed tuple", runCheck, ["document:readme#view"]],
    ["check with an unknown flag", runCheck, ["--frobnicate", "document:readme#view@user:anne"]],
    ["check with a bad consistency", runCheck, ["--consistency", "sometimes", "document:readme#view@user:anne"]],
    ["check with exact consistency and no token", runCheck, ["--consistency", "at-exact-snapshot", "document:readme#view@user:anne"]],
    ["check with a bad depth", runCheck, ["--max-depth", "0", "document:readme#view@user:anne"]],
    ["expand with a tuple", runExpand, ["document:readme#view@user:anne"]],
    ["tuples delete without tuples or filter", runTuples, ["delete"]],
    ["tuples delete with both tuples and a filter", runTuples, ["delete", "--namespace", "doc", "doc:a#r@b"]],
    ["tuples create of nothing", runTuples, ["create"]],
    ["tuples create of a missing file", runTuples, ["create", "-f", join(dir, "nope.json")]],
    ["tuples list with a page size above 1000", runTuples, ["list", "--page-size", "5000"]],
    ["tuples with an unknown sub-command", runTuples, ["frob"]],
    ["schema validate without files", runSchema, ["validate"]],
    ["schema push with a bad language", runSchema, ["push", "--language", "cobol", drive]],
    ["an endpoint that is no URL", runNamespaces, ["--endpoint", "http://"]],
  ] as [string, Runner, string[]][])("%s", async (_name, runner, args) => {
    const r = await run(runner, args);
    expect(r.code).toBe(2);
    expect(r.err).not.toBe("");
    expect(r.out).toBe("");
  });

  it("names the offending entry of a tuple file", async () => {
    const bad = file("bad.json", JSON.stringify([{ namespace: "document", object: "x", relation: "viewers" }]));
    const r = await run(runTuples, ["create", "-f", bad]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${bad}[0]: give exactly one of "subject_id" and "subject_set"`);
  });

  it("prints help with exit 0", async () => {
    const r = await run(runCheck, ["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Usage: gatehouse check");
  });
});

describe("request errors exit 1 with a clear message", () => {
  it("says when the endpoint cannot be reached", async () => {
    const r = await run(runCheck, ["--endpoint", "127.0.0.1:1", "document:readme#view@user:anne"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^gatehouse check: cannot reach the read endpoint 127\.0\.0\.1:1: connect ECONNREFUSED .*GATEHOUSE_READ_ENDPOINT/);
  });

  it("refuses a wrong API key, and a missing one, with the server's message", async () => {
    const wrong = await run(runSchema, ["push", drive, "--api-key", "not-the-key"]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain("gatehouse schema push: unauthenticated: the API key is not valid");
    const missing = await run(runSchema, ["push", drive], { GATEHOUSE_API_KEY: undefined });
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("unauthenticated: this endpoint needs an API key");
  });

  it("reports NOT_FOUND when no schema is stored yet", async () => {
    const r = await run(runSchema, ["get"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^gatehouse schema get: not_found: no schema has been written yet/);
  });
});

describe("schema", () => {
  const invalid = file("bad.ts", "class User implements Namespace {}\nclass Doc implements Namespace {\n  related: {\n    viewers: Usr[]\n  }\n}\n");

  it("validates a valid schema", async () => {
    const r = await run(runSchema, ["validate", drive]);
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toBe(`${drive}: valid (opl)\n`);
  });

  it("validates an invalid schema with file:line:col diagnostics and exit 1", async () => {
    const r = await run(runSchema, ["validate", invalid]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${invalid}:4:14: error: relation \`Doc#viewers\` allows subject type \`Usr\`, but type \`Usr\` is not defined [unknown_type]\n`);
    expect(r.out).toContain(`${invalid}: invalid, 1 error\n`);
    const json = await run(runSchema, ["validate", "--json", invalid]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toMatchObject({ valid: false, diagnostics: [{ severity: "error", line: 4, column: 14, construct: "unknown_type" }] });
  });

  it("refuses to push an invalid schema, printing the errors with positions", async () => {
    const r = await run(runSchema, ["push", invalid]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${invalid}:4:14: error:`);
    expect(r.err).toContain("nothing was stored");
    expect((await run(runSchema, ["get"])).code).toBe(1);
  });

  it("pushes a schema and reads it back exactly", async () => {
    const r = await run(runSchema, ["push", drive]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^schema written from .*drive\.keto\.ts \(opl\)\nsnaptoken: gh1_/);
    const got = await run(runSchema, ["get"]);
    expect(got.code).toBe(0);
    expect(got.out).toBe(readFileSync(drive, "utf8"));
    const json = JSON.parse((await run(runSchema, ["get", "--json"])).out) as { language: string; snaptoken: string };
    expect(json.language).toBe("opl");
    expect(json.snaptoken).toMatch(/^gh1_/);
  });

  it("lists the namespaces through Keto's NamespacesService", async () => {
    const r = await run(runNamespaces, []);
    expect(r).toMatchObject({ code: 0, out: "user\ngroup\nfolder\ndocument\n" });
    expect(JSON.parse((await run(runNamespaces, ["--json"])).out)).toEqual({ namespaces: ["user", "group", "folder", "document"] });
  });
});

describe("tuples, check and expand", () => {
  let written = "";

  it("creates tuples from arguments", async () => {
    const r = await run(runTuples, ["create", "group:eng#member@user:anne", "document:readme#viewers@group:eng#member"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^wrote 2 tuples\nsnaptoken: gh1_\S+\n$/);
    written = /snaptoken: (\S+)/.exec(r.out)?.[1] ?? "";
  });

  it("creates tuples from a JSON file of Keto-shaped tuples", async () => {
    const json = file(
      "keto.json",
      JSON.stringify([
        { namespace: "document", object: "readme", relation: "owners", subject_set: { namespace: "user", object: "olivia", relation: "" } },
        { namespace: "document", object: "readme", relation: "parent", subject_set: { namespace: "folder", object: "root" } },
        "folder:root#viewers@user:victor",
      ]),
    );
    const r = await run(runTuples, ["create", "-f", json]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^wrote 3 tuples\n/);
  });

  it("creates tuples from a folder of YAML files, in several batches", async () => {
    file("yaml/a.yaml", "- {user: user:bob, relation: member, object: group:eng}\n- document:draft#viewers@user:carol\n");
    file("yaml/b.yml", "relation_tuples:\n  - namespace: document\n    object: draft\n    relation: blocked\n    subject_set: {namespace: user, object: bob}\n");
    file("yaml/ignored.txt", "this is not read\n");
    const r = await run(runTuples, ["create", "-f", join(dir, "yaml"), "--batch-size", "2"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^wrote 3 tuples in 2 requests\n/);
  });

  it("fails the whole write with the server's message when --fail-if-exists meets a stored tuple", async () => {
    const r = await run(runTuples, ["create", "--fail-if-exists", "document:other#viewers@user:anne", "group:eng#member@user:anne"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^gatehouse tuples create: already_exists: /);
    expect((await run(runTuples, ["list", "--object", "other"])).out).toBe("");
  });

  it("lists tuples as a table and as Keto's JSON, one page or all", async () => {
    const table = await run(runTuples, ["list", "--namespace", "document", "--object", "readme"]);
    expect(table.code).toBe(0);
    const lines = table.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAMESPACE\s+OBJECT\s+RELATION\s+SUBJECT$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).join(" ")).sort()).toEqual([
      "document readme owners user:olivia",
      "document readme parent folder:root",
      "document readme viewers group:eng#member",
    ]);

    const json = await run(runTuples, ["list", "--json", "--subject", "user:bob"]);
    expect(JSON.parse(json.out)).toMatchObject({
      relation_tuples: expect.arrayContaining([
        { namespace: "group", object: "eng", relation: "member", subject_set: { namespace: "user", object: "bob", relation: "" } },
        { namespace: "document", object: "draft", relation: "blocked", subject_set: { namespace: "user", object: "bob", relation: "" } },
      ]) as unknown,
      next_page_token: "",
    });

    const page = await run(runTuples, ["list", "--page-size", "2"]);
    expect(page.out.trimEnd().split("\n")).toHaveLength(3);
    expect(page.err).toMatch(/more tuples: continue with --page-token \S+/);
    const all = await run(runTuples, ["list", "--page-size", "2", "--all", "--json"]);
    expect((JSON.parse(all.out) as { relation_tuples: unknown[] }).relation_tuples).toHaveLength(8);
    expect(all.err).toBe("");
  });

  it("reads `tuples list --json` output back with `tuples create -f`", async () => {
    const listed = file("listed.json", (await run(runTuples, ["list", "--json", "--all"])).out);
    const r = await run(runTuples, ["create", "-f", listed]);
    expect(r.out).toMatch(/^wrote 8 tuples\n/);
  });

  it("checks: allowed and denied both exit 0, --exit-code makes denied 3", async () => {
    const allowed = await run(runCheck, ["document:readme#view@user:anne", "--snaptoken", written]);
    expect(allowed).toMatchObject({ code: 0, err: "" });
    expect(allowed.out).toMatch(/^allowed\nsnaptoken: gh1_\S+\n$/);
    expect((await run(runCheck, ["document:readme#view@user:victor", "--consistency", "fully-consistent"])).out).toMatch(/^allowed\n/);

    const denied = await run(runCheck, ["document:draft#view@user:bob"]);
    expect(denied.code).toBe(0);
    expect(denied.out).toMatch(/^denied\n/);
    expect((await run(runCheck, ["--exit-code", "document:draft#view@user:bob"])).code).toBe(3);
    expect((await run(runCheck, ["--exit-code", "user:carol", "view", "document", "draft"])).code).toBe(0);

    const json = JSON.parse((await run(runCheck, ["--json", "document:readme#edit@user:olivia"])).out) as { allowed: boolean; snaptoken: string };
    expect(json.allowed).toBe(true);
    expect(json.snaptoken).toMatch(/^gh1_/);
    const contextual = await run(runCheck, ["document:draft#view@user:dora", "--contextual", "document:draft#viewers@user:dora"]);
    expect(contextual.out).toMatch(/^allowed\n/);
  });

  it("reports a malformed snaptoken and exhausted depth as request errors", async () => {
    const token = await run(runCheck, ["document:readme#view@user:anne", "--snaptoken", "garbage"]);
    expect(token.code).toBe(1);
    expect(token.err).toMatch(/^gatehouse check: invalid_argument: .*snaptoken/);
    const depth = await run(runCheck, ["document:readme#view@user:victor", "--max-depth", "1"]);
    expect(depth.code).toBe(1);
    expect(depth.err).toMatch(/^gatehouse check: resource_exhausted: /);
  });

  it("expands a userset as indented text and as JSON", async () => {
    const r = await run(runExpand, ["document:readme#viewers"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^document:readme#viewers: stored\n  group:eng#member: stored\n    user:anne\n    user:bob\nsnaptoken: gh1_/);

    const view = await run(runExpand, ["view", "document", "readme"]);
    expect(view.code).toBe(0);
    expect(view.out).toContain("document:readme#parent → view");
    expect(view.out).toContain("user:victor");

    const json = JSON.parse((await run(runExpand, ["--json", "document:readme#viewers"])).out) as {
      tree: { userset: unknown; leaf: { subjects: unknown[] } };
      snaptoken: string;
    };
    expect(json.tree.userset).toEqual({ namespace: "document", object: "readme", relation: "viewers" });
    expect(json.tree.leaf.subjects).toEqual([{ set: { namespace: "group", object: "eng", relation: "member" } }]);
  });

  it("deletes tuples by value and by filter", async () => {
    const one = await run(runTuples, ["delete", "group:eng#member@user:anne"]);
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/^1 tuple is no longer stored\nsnaptoken: /);
    expect((await run(runCheck, ["document:readme#view@user:anne", "--consistency", "full"])).out).toMatch(/^denied\n/);

    const filtered = await run(runTuples, ["delete", "--namespace", "document", "--object", "draft", "--json"]);
    expect(filtered.code).toBe(0);
    expect(JSON.parse(filtered.out)).toMatchObject({ deleted: 2 });
    const left = await run(runTuples, ["list", "--namespace", "document", "--object", "draft", "--consistency", "full"]);
    expect(left).toMatchObject({ out: "", err: "no tuples match\n" });
  });
});

describe("bin/gatehouse.js", () => {
  it("checks from the real command line, exit code and all", async () => {
    const exec = promisify(execFile);
    const bin = join(root, "bin/gatehouse.js");
    const options = { cwd: root, env: { ...process.env, ...env } };
    const allowed = await exec(process.execPath, [bin, "check", "document:readme#view@user:olivia"], options);
    expect(allowed.stdout).toMatch(/^allowed\nsnaptoken: gh1_/);
    const denied = await exec(process.execPath, [bin, "check", "--exit-code", "document:readme#view@user:zed"], options).catch(
      (e: { code: number; stdout: string }) => e,
    );
    expect(denied).toMatchObject({ code: 3, stdout: expect.stringMatching(/^denied\n/) as unknown });
  });
});
