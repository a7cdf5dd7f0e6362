import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../common/errors.js";
import type { AccessRule } from "./rule.js";
import { createRuleRepository, type RuleRepository, type RuleRepositoryOptions } from "./rule-repository.js";

function ruleYaml(id: string, path = `/${id}`): string {
  return [
    `- id: ${id}`,
    "  match:",
    `    url: https://api.example.com${path}`,
    "    methods: [GET]",
    "  authenticators: [{ handler: anonymous }]",
    "  authorizer: { handler: allow }",
    "",
  ].join("\n");
}

function ruleJson(...ids: string[]): string {
  return JSON.stringify(
    ids.map((id) => ({
      id,
      match: { url: `https://api.example.com/${id}`, methods: ["GET"] },
      authenticators: [{ handler: "anonymous" }],
      authorizer: { handler: "allow" },
    })),
    null,
    2,
  );
}

/** Polls `check` until it holds, failing after `timeoutMillis`. */
async function waitFor(check: () => boolean, what: string, timeoutMillis = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Writes like an editor that saves atomically, so no reader ever sees a half-written file. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, path);
}

const ids = (repo: RuleRepository): string[] => repo.rules().map((r) => r.id).sort();

let dir: string;
let logs: string[];
const open: RuleRepository[] = [];

function repository(options: Partial<RuleRepositoryOptions> & { sources: readonly string[] }): RuleRepository {
  const repo = createRuleRepository({ log: (line) => logs.push(line), debounceMillis: 20, ...options });
  open.push(repo);
  return repo;
}

async function loadError(repo: RuleRepository): Promise<InvalidArgumentError> {
  try {
    await repo.load();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error("expected load() to fail");
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-rules-"));
  logs = [];
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
  await rm(dir, { recursive: true, force: true });
});

describe("rule repository: initial load", () => {
  it("loads files and directories (recursively, JSON and YAML, skipping hidden and other files)", async () => {
    const single = join(dir, "single.yaml");
    const rulesDir = join(dir, "rules.d");
    await mkdir(join(rulesDir, "team-a"), { recursive: true });
    await mkdir(join(rulesDir, ".hidden"));
    await writeFile(single, ruleYaml("single"));
    await writeFile(join(rulesDir, "b.json"), ruleJson("b1", "b2"));
    await writeFile(join(rulesDir, "a.yml"), ruleYaml("a"));
    await writeFile(join(rulesDir, "team-a", "c.yaml"), ruleYaml("c"));
    await writeFile(join(rulesDir, ".hidden", "h.yaml"), ruleYaml("hidden"));
    await writeFile(join(rulesDir, ".swap.yaml"), "not: [valid");
    await writeFile(join(rulesDir, "README.md"), "# rules\n");

    const repo = repository({ sources: [pathToFileURL(single).href, `file://${rulesDir}`] });
    const rules = await repo.load();
    // sources in order, files in name order, sub-folders where they sort
    expect(rules.map((r) => r.id)).toEqual(["single", "a", "b1", "b2", "c"]);
    expect(repo.get("b2")?.match.url).toBe("https://api.example.com/b2");
    expect(repo.get("hidden")).toBeUndefined();
    expect(repo.rules()).toBe(rules);
    expect(repo.reloads).toBe(0);
    expect(repo.lastError).toBeUndefined();
    expect(Object.isFrozen(rules)).toBe(true);
  });

  it("reads a file reached twice (directory and explicit source, or a symlink) only once", async () => {
    await writeFile(join(dir, "a.yaml"), ruleYaml("a"));
    await symlink(join(dir, "a.yaml"), join(dir, "link.yaml"));
    const repo = repository({ sources: [dir, join(dir, "a.yaml")] });
    expect((await repo.load()).map((r) => r.id)).toEqual(["a"]);
  });

  it("throws on an invalid file, naming the file, the rule and the field", async () => {
    await writeFile(join(dir, "good.yaml"), ruleYaml("good"));
    await writeFile(join(dir, "bad.yaml"), ruleYaml("api-users").replace("https://api.example.com/api-users", "/api-users"));
    const repo = repository({ sources: [dir] });
    const error = await loadError(repo);
    expect(error.message).toBe(
      `${join(dir, "bad.yaml")}: rule "api-users" (index 0): match.url: must be an absolute http(s) URL pattern such as "https://api.example.com/users/<[0-9]+>", got "/api-users"`,
    );
    expect(error.details).toMatchObject({ field: "match.url", file: join(dir, "bad.yaml"), ruleId: "api-users", line: 3 });
    expect(repo.rules()).toEqual([]);
  });

  it("throws on a missing source and refuses remote sources", async () => {
    const missing = join(dir, "nope.yaml");
    expect((await loadError(repository({ sources: [missing] }))).message).toBe(`${missing}: does not exist`);
    expect(() => createRuleRepository({ sources: ["https://rules.example.com/rules.json"] })).toThrow(
      /only local files and directories are supported/,
    );
  });

  it("refuses duplicate ids across files, naming both files", async () => {
    await writeFile(join(dir, "one.yaml"), ruleYaml("x") + ruleYaml("shared"));
    await writeFile(join(dir, "two.json"), ruleJson("y", "shared"));
    const error = await loadError(repository({ sources: [join(dir, "one.yaml"), join(dir, "two.json")] }));
    expect(error.message).toBe(
      `${join(dir, "two.json")}: rule "shared" (index 1): id: duplicate id, also defined in ${join(dir, "one.yaml")} (index 1)`,
    );
    expect(error.details).toMatchObject({ field: "id", ruleId: "shared", otherFile: join(dir, "one.yaml") });
  });

  it("checks handler names when knownHandlers is given", async () => {
    await writeFile(join(dir, "r.yaml"), ruleYaml("r").replace("handler: allow", "handler: keto_engine_acp_ory"));
    const repo = repository({
      sources: [dir],
      knownHandlers: { authenticators: ["anonymous"], authorizers: ["allow", "deny"], mutators: ["noop"], errors: ["json"] },
    });
    expect((await loadError(repo)).message).toContain('authorizer.handler: unknown authorizer "keto_engine_acp_ory" (known: allow, deny)');
  });
});

describe("rule repository: hot reload", () => {
  it("picks up an edited file, a new file and a deleted file", async () => {
    const rulesDir = join(dir, "rules");
    await mkdir(rulesDir);
    await writeFile(join(rulesDir, "a.yaml"), ruleYaml("a", "/v1"));
    const changes: (readonly AccessRule[])[] = [];
    const repo = repository({ sources: [rulesDir], watch: true, onChange: (rules) => changes.push(rules) });
    await repo.load();

    await writeFile(join(rulesDir, "a.yaml"), ruleYaml("a", "/v2"));
    await waitFor(() => repo.get("a")?.match.url === "https://api.example.com/v2", "the edit");
    expect(repo.reloads).toBeGreaterThanOrEqual(1);
    expect(changes.at(-1)).toBe(repo.rules());

    await writeFile(join(rulesDir, "b.json"), ruleJson("b"));
    await waitFor(() => repo.get("b") !== undefined, "the new file");
    expect(ids(repo)).toEqual(["a", "b"]);

    await rm(join(rulesDir, "a.yaml"));
    await waitFor(() => repo.get("a") === undefined, "the deletion");
    expect(ids(repo)).toEqual(["b"]);
    expect(repo.lastError).toBeUndefined();
    expect(logs.some((l) => l.includes("reloaded 1 rules from 1 files"))).toBe(true);
  });

  it("follows editors that write a new file and rename it over a watched file source", async () => {
    const file = join(dir, "rules.yaml");
    await writeFile(file, ruleYaml("a"));
    const repo = repository({ sources: [file], watch: true });
    await repo.load();

    for (const id of ["b", "c"]) {
      await writeFile(join(dir, ".rules.yaml.tmp"), ruleYaml(id));
      await rename(join(dir, ".rules.yaml.tmp"), file);
      await waitFor(() => repo.get(id) !== undefined, `replacement ${id}`);
      expect(ids(repo)).toEqual([id]);
    }
  });

  it("keeps the previous set on an invalid edit, reports it, and applies a later fix", async () => {
    const file = join(dir, "rules.yaml");
    await writeFile(file, ruleYaml("api-users"));
    const repo = repository({ sources: [file], watch: true });
    await repo.load();

    // atomic writes: an in-place write could be read half-done (an empty file is a valid, empty rule list)
    await writeAtomic(file, ruleYaml("api-users").replace("handler: allow", "handler: ''"));
    await waitFor(() => repo.lastError !== undefined, "the failed reload");
    expect(repo.lastError).toBe(`${file}: rule "api-users" (index 0): authorizer.handler: is required (a handler name)`);
    expect(repo.reloads).toBe(0);
    expect(ids(repo)).toEqual(["api-users"]);
    expect(repo.get("api-users")?.authorizers).toEqual([{ handler: "allow" }]);
    expect(logs.some((l) => l.includes("reload failed, keeping the previous 1 rules") && l.includes("authorizer.handler"))).toBe(true);

    await writeAtomic(file, ruleYaml("api-users").replace("handler: allow", "handler: deny"));
    await waitFor(() => repo.reloads > 0, "the fixed reload");
    expect(repo.lastError).toBeUndefined();
    expect(repo.get("api-users")?.authorizers).toEqual([{ handler: "deny" }]);
  });

  it("keeps the previous set when an edit introduces a duplicate id across files", async () => {
    await writeFile(join(dir, "a.yaml"), ruleYaml("a"));
    await writeFile(join(dir, "b.yaml"), ruleYaml("b"));
    const repo = repository({ sources: [dir], watch: true });
    await repo.load();

    await writeAtomic(join(dir, "b.yaml"), ruleYaml("a"));
    await waitFor(() => repo.lastError !== undefined, "the failed reload");
    expect(repo.lastError).toContain(`${join(dir, "b.yaml")}: rule "a" (index 0): id: duplicate id, also defined in ${join(dir, "a.yaml")}`);
    expect(ids(repo)).toEqual(["a", "b"]);
  });

  it("notices a deleted file source and its return", async () => {
    const file = join(dir, "rules.json");
    await writeFile(file, ruleJson("a"));
    const repo = repository({ sources: [file], watch: true });
    await repo.load();

    await rm(file);
    await waitFor(() => repo.lastError !== undefined, "the failed reload");
    expect(repo.lastError).toBe(`${file}: does not exist`);
    expect(ids(repo)).toEqual(["a"]);

    await writeFile(file, ruleJson("a", "b"));
    await waitFor(() => repo.lastError === undefined && repo.get("b") !== undefined, "the restored file");
  });

  it("watches sub-folders a directory gains", async () => {
    const repo = repository({ sources: [dir], watch: true });
    await repo.load();
    expect(repo.rules()).toEqual([]);

    await mkdir(join(dir, "team"));
    await writeFile(join(dir, "team", "t.yaml"), ruleYaml("t1"));
    await waitFor(() => repo.get("t1") !== undefined, "the new sub-folder");

    await writeFile(join(dir, "team", "t.yaml"), ruleYaml("t2"));
    await waitFor(() => repo.get("t2") !== undefined, "the edit in the sub-folder");
    expect(ids(repo)).toEqual(["t2"]);
  });

  it("does not watch unless asked, and stops on close", async () => {
    const file = join(dir, "rules.yaml");
    await writeFile(file, ruleYaml("a"));
    const unwatched = repository({ sources: [file] });
    const watched = repository({ sources: [file], watch: true });
    await unwatched.load();
    await watched.load();
    await watched.close();

    await writeFile(file, ruleYaml("b"));
    const probe = repository({ sources: [file], watch: true });
    await probe.load();
    await writeFile(file, ruleYaml("c"));
    await waitFor(() => probe.get("c") !== undefined, "the probe's reload");
    expect(ids(unwatched)).toEqual(["a"]);
    expect(ids(watched)).toEqual(["a"]);
    expect(unwatched.reloads + watched.reloads).toBe(0);
  });
});
