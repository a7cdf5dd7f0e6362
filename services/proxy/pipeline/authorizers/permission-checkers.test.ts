import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError, NotFoundError, UnavailableError } from "../../../../common/errors.js";
import { openPermissionEngine, type PermissionEngine } from "../../../../engine/permission-engine.js";
import { createMemoryStore, type TupleStore } from "../../../../engine/store/index.js";
import { parseTuple } from "../../../../engine/tuple.js";
import { startAuthzPlanes, type AuthzPlanes } from "../../../../gateways/authz-planes.js";
import { engineChecker, remoteChecker } from "./permission-checkers.js";
import { closedPort, rejectionOf } from "./test-support.js";
import { DOC_MODEL as model } from "./test-support.js";


let store: TupleStore;
let engine: PermissionEngine;
let planes: AuthzPlanes;

beforeAll(async () => {
  store = createMemoryStore();
  engine = await openPermissionEngine({ store, quantizationMs: 0 });
  await engine.writeSchema(model);
  await engine.write(["Doc:1#viewers@Group:eng#members", "Group:eng#members@User:bob", "Doc:2#viewers@carl"].map((t) => ({ op: "touch" as const, tuple: parseTuple(t) })));
  const local = { host: "127.0.0.1", port: 0 };
  planes = await startAuthzPlanes({ engine, read: local, write: local, opl: local, shutdownTimeoutMillis: 500 });
});
afterAll(async () => {
  await planes.close();
  await engine.close();
  await store.close();
});

describe("engineChecker", () => {
  it("answers from the engine in this process, through the schema's rewrites", async () => {
    const checker = engineChecker(engine);
    expect(await checker.check(parseTuple("Doc:1#view@User:bob"))).toBe(true);
    expect(await checker.check(parseTuple("Doc:1#view@User:anne"))).toBe(false);
    expect(await checker.check(parseTuple("Doc:2#view@carl"))).toBe(true);
    await expect(checker.check(parseTuple("nope:1#view@User:bob"))).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("remoteChecker", () => {
  it("checks over gRPC against the read plane, with HOST:PORT or a URL", async () => {
    for (const url of [`127.0.0.1:${planes.ports.read}`, `http://127.0.0.1:${planes.ports.read}/`]) {
      const checker = remoteChecker({ url });
      try {
        expect(await checker.check(parseTuple("Doc:1#view@User:bob"))).toBe(true);
        expect(await checker.check(parseTuple("Doc:1#view@User:anne"))).toBe(false);
        expect(await checker.check(parseTuple("Doc:2#view@carl"))).toBe(true);
        expect(await checker.check(parseTuple("Doc:1#view@Group:eng#members"))).toBe(true);
      } finally {
        checker.close();
      }
    }
  });

  it("maps the server's refusals to Gatehouse errors with its message", async () => {
    const checker = remoteChecker({ url: `127.0.0.1:${planes.ports.read}` });
    try {
      const unknownNamespace = await rejectionOf(checker.check(parseTuple("nope:1#view@User:bob")));
      expect(unknownNamespace).toBeInstanceOf(NotFoundError);
      expect(unknownNamespace.message).toContain('namespace "nope" is not defined');
      const emptyRelation = await rejectionOf(checker.check({ namespace: "Doc", object: "1", relation: "", subject: { kind: "id", id: "x" } }));
      expect(emptyRelation).toBeInstanceOf(InvalidArgumentError);
      expect(emptyRelation.message).toContain("relationship.relation");
    } finally {
      checker.close();
    }
  });

  it("reports an unreachable authz service as unavailable", async () => {
    const port = await closedPort();
    const checker = remoteChecker({ url: `127.0.0.1:${port}`, timeoutMillis: 1_000 });
    try {
      const err = await rejectionOf(checker.check(parseTuple("Doc:1#view@User:bob")));
      expect(err).toBeInstanceOf(UnavailableError);
      expect(err.message).toContain(`http://127.0.0.1:${port}`);
    } finally {
      checker.close();
    }
  });

  it("refuses an endpoint that is not HOST:PORT or an http(s) URL", () => {
    expect(() => remoteChecker({ url: "ftp://x" })).toThrow(InvalidArgumentError);
  });
});
