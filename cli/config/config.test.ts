import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { defaultConfig, loadConfig } from "./config.js";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

function failure(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err;
    throw err;
  }
  throw new Error("no error");
}

describe("configuration", () => {
  it("defaults to Keto's ports and the embedded store", () => {
    const c = loadConfig({ env: {} });
    expect(c).toEqual(defaultConfig());
    expect([c.serve.read.port, c.serve.write.port, c.serve.opl.port]).toEqual([4466, 4467, 4469]);
    expect(c.dsn).toEqual({ kind: "pglite", dataDir: "./.gatehouse/data" });
  });

  it("layers file, then environment, then flags", () => {
    const path = file("a.yaml", "dsn: memory\nserve:\n  read:\n    port: 5000\n  write:\n    port: 5001\nlimit:\n  max_read_depth: 7\nnamespaces:\n  location: file://./ns.keto.ts\n");
    const c = loadConfig({
      file: path,
      env: { GATEHOUSE_SERVE_WRITE_PORT: "6001", GATEHOUSE_DSN: "postgres://u:secret@db/x" },
      flags: { dsn: "pglite:/tmp/x" },
    });
    expect(c.serve.read.port).toBe(5000);
    expect(c.serve.write.port).toBe(6001);
    expect(c.limit.maxReadDepth).toBe(7);
    expect(c.namespaces.location).toBe("./ns.keto.ts");
    expect(c.dsn).toEqual({ kind: "pglite", dataDir: "/tmp/x" });
  });

  it("names the key and its source in every error", () => {
    const bad = file("b.yaml", "serve:\n  read:\n    port: 70000\n");
    expect(failure(() => loadConfig({ file: bad, env: {} })).message).toMatch(/b\.yaml: serve\.read\.port: expected a whole number from 0 to 65535/);
    const unknown = file("c.yaml", "serve:\n  reed:\n    port: 1\n");
    expect(failure(() => loadConfig({ file: unknown, env: {} })).message).toMatch(/serve\.reed\.port: unknown key/);
    expect(failure(() => loadConfig({ env: { GATEHOUSE_SERVE_H2C: "quic" } })).message).toMatch(/GATEHOUSE_SERVE_H2C: expected grpc-js or connect/);
    expect(failure(() => loadConfig({ env: {}, flags: { dsn: "mysql://x" } })).message).toMatch(/--dsn: expected memory, pglite:PATH or postgres/);
    expect(failure(() => loadConfig({ env: { GATEHOUSE_SERVE_WRITE_API_KEY_HASHES: "plain-key" } })).message).toMatch(
      /GATEHOUSE_SERVE_WRITE_API_KEY_HASHES\[0\]: expected a SHA-256 hash/,
    );
  });

  it("never echoes a database password", () => {
    const err = failure(() => loadConfig({ env: { GATEHOUSE_DSN: "mysql://admin:hunter2@db/x" } }));
    expect(err.message).not.toContain("hunter2");
  });
});
