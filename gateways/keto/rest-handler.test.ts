import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PermissionEngine } from "../../engine/permission-engine.js";
import type { KetoPlane } from "./grpc-services.js";
import { createKetoRestHandler, type KetoRestOptions } from "./rest-handler.js";
import { openTestEngine } from "./test-fixtures.js";

interface Planes {
  read: string;
  write: string;
  opl: string;
}

const servers: Server[] = [];

async function serve(options: Omit<KetoRestOptions, "plane">, plane: KetoPlane): Promise<string> {
  const handler = createKetoRestHandler({ ...options, plane });
  const server = createServer((req, res) => {
    void handler(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("not a Keto route");
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function servePlanes(options: Omit<KetoRestOptions, "plane">): Promise<Planes> {
  return { read: await serve(options, "read"), write: await serve(options, "write"), opl: await serve(options, "opl") };
}

const json = (body: unknown): RequestInit => ({ body: JSON.stringify(body), headers: { "content-type": "application/json" } });

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  const isJson = res.headers.get("content-type")?.startsWith("application/json") === true;
  return { status: res.status, body: isJson ? (JSON.parse(text) as unknown) : text === "" ? undefined : text, headers: res.headers };
}

function chatTuple(object: string, subject: string) {
  return { action: "insert", relation_tuple: { namespace: "chats", object, relation: "member", subject_id: subject } };
}

describe("Keto REST handler", () => {
  let engine: PermissionEngine;
  let p: Planes;

  beforeEach(async () => {
    engine = await openTestEngine();
    p = await servePlanes({ engine });
  });

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it("replays simple-access-check-guide: create (201 + Location), check, delete, check again", async () => {
    const tuple = { namespace: "messages", object: "02y_15_4w350m3", relation: "decypher", subject_id: "john" };
    const created = await call(`${p.write}/admin/relation-tuples`, { method: "PUT", ...json(tuple) });
    expect(created.status).toBe(201);
    expect(created.body).toEqual(tuple);
    expect(created.headers.get("location")).toBe("/relation-tuples?namespace=messages&object=02y_15_4w350m3&relation=decypher&subject_id=john");
    const query = "subject_id=john&relation=decypher&namespace=messages&object=02y_15_4w350m3";
    expect(await call(`${p.read}/relation-tuples/check?${query}`)).toMatchObject({ status: 200, body: { allowed: true } });
    expect((await call(`${p.write}/admin/relation-tuples?${query}`, { method: "DELETE" })).status).toBe(204);
    expect(await call(`${p.read}/relation-tuples/check?${query}`)).toMatchObject({ status: 403, body: { allowed: false } });
    expect(await call(`${p.read}/relation-tuples/check/openapi?${query}`)).toMatchObject({ status: 200, body: { allowed: false } });
  });

  it("answers POST checks with the 403 mirror and /openapi with 200", async () => {
    await engine.write([{ op: "touch", tuple: { namespace: "messages", object: "m", relation: "decypher", subject: { kind: "id", id: "john" } } }]);
    const yes = { namespace: "messages", object: "m", relation: "decypher", subject_id: "john" };
    const no = { ...yes, subject_id: "jane" };
    expect(await call(`${p.read}/relation-tuples/check`, { method: "POST", ...json(yes) })).toMatchObject({ status: 200, body: { allowed: true } });
    expect(await call(`${p.read}/relation-tuples/check`, { method: "POST", ...json(no) })).toMatchObject({ status: 403, body: { allowed: false } });
    expect(await call(`${p.read}/relation-tuples/check/openapi`, { method: "POST", ...json(no) })).toMatchObject({ status: 200, body: { allowed: false } });
    // Pre-v0.10 path.
    expect((await call(`${p.read}/check?namespace=messages&object=m&relation=decypher&subject_id=jane`)).status).toBe(403);
  });

  it("replays list-api-display-objects: 9 tuples by PATCH, then both listings", async () => {
    const patch = [
      chatTuple("memes", "PM"),
      chatTuple("memes", "Vincent"),
      chatTuple("memes", "Julia"),
      chatTuple("cars", "PM"),
      chatTuple("cars", "Julia"),
      chatTuple("coffee-break", "PM"),
      chatTuple("coffee-break", "Vincent"),
      chatTuple("coffee-break", "Julia"),
      chatTuple("coffee-break", "Patrik"),
    ];
    expect((await call(`${p.write}/admin/relation-tuples`, { method: "PATCH", ...json(patch) })).status).toBe(204);
    const pm = await call(`${p.read}/relation-tuples?namespace=chats&relation=member&subject_id=PM`);
    expect(pm.status).toBe(200);
    const pmBody = pm.body as { relation_tuples: { object: string }[]; next_page_token: string };
    expect(pmBody.relation_tuples.map((t) => t.object).sort()).toEqual(["cars", "coffee-break", "memes"]);
    expect(pmBody.next_page_token).toBe("");
    const coffee = await call(`${p.read}/relation-tuples?namespace=chats&object=coffee-break&relation=member`);
    const coffeeBody = coffee.body as { relation_tuples: { subject_id: string }[] };
    expect(coffeeBody.relation_tuples.map((t) => t.subject_id).sort()).toEqual(["Julia", "PM", "Patrik", "Vincent"]);
  });

  it("pages with page_size and page_token across pages", async () => {
    const patch = Array.from({ length: 7 }, (_, i) => chatTuple(`room-${i}`, "PM"));
    await call(`${p.write}/admin/relation-tuples`, { method: "PATCH", ...json(patch) });
    const objects: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const res = await call(`${p.read}/relation-tuples?namespace=chats&page_size=3${token === "" ? "" : `&page_token=${encodeURIComponent(token)}`}`);
      expect(res.status).toBe(200);
      const body = res.body as { relation_tuples: { object: string }[]; next_page_token: string };
      expect(body.relation_tuples.length).toBeLessThanOrEqual(3);
      objects.push(...body.relation_tuples.map((t) => t.object));
      token = body.next_page_token;
      pages++;
    } while (token !== "");
    expect(pages).toBe(3);
    expect(objects.sort()).toEqual(Array.from({ length: 7 }, (_, i) => `room-${i}`));
    expect((await call(`${p.read}/relation-tuples?namespace=chats&page_token=bogus`)).status).toBe(400);
    expect((await call(`${p.read}/relation-tuples?namespace=chats&page_size=abc`)).status).toBe(400);
  });

  it("replays expand-api-display-access at max-depth=3 with Keto's tree JSON", async () => {
    const tuples = [
      "directories:/photos#owner@maureen",
      "files:/photos/beach.jpg#owner@maureen",
      "files:/photos/mountains.jpg#owner@laura",
      "directories:/photos#access@laura",
    ].map((t) => {
      const [left = "", subject = ""] = t.split("@");
      const [ns = "", rest = ""] = left.split(":");
      const [object = "", relation = ""] = rest.split("#");
      return { action: "insert", relation_tuple: { namespace: ns, object, relation, subject_id: subject } };
    });
    const set = (ns: string, object: string, relation: string, sns: string, sobject: string, srel: string) => ({
      action: "insert",
      relation_tuple: { namespace: ns, object, relation, subject_set: { namespace: sns, object: sobject, relation: srel } },
    });
    tuples.push(
      set("directories", "/photos", "access", "directories", "/photos", "owner") as never,
      set("files", "/photos/beach.jpg", "access", "files", "/photos/beach.jpg", "owner") as never,
      set("files", "/photos/beach.jpg", "access", "directories", "/photos", "access") as never,
      set("files", "/photos/mountains.jpg", "access", "files", "/photos/mountains.jpg", "owner") as never,
      set("files", "/photos/mountains.jpg", "access", "directories", "/photos", "access") as never,
    );
    expect((await call(`${p.write}/admin/relation-tuples`, { method: "PATCH", ...json(tuples) })).status).toBe(204);
    const res = await call(`${p.read}/relation-tuples/expand?namespace=files&relation=access&object=/photos/beach.jpg&max-depth=3`);
    expect(res.status).toBe(200);
    const empty = { namespace: "", object: "", relation: "" };
    const ss = (namespace: string, object: string, relation: string) => ({ ...empty, subject_set: { namespace, object, relation } });
    const tree = res.body as { children: { tuple: { subject_set: { object: string } } }[] };
    // Sibling order is not part of Keto's contract (its own sample changed it); compare sorted.
    tree.children.sort((a, b) => a.tuple.subject_set.object.localeCompare(b.tuple.subject_set.object));
    expect(tree).toEqual({
      type: "union",
      tuple: ss("files", "/photos/beach.jpg", "access"),
      children: [
        {
          type: "union",
          tuple: ss("directories", "/photos", "access"),
          children: [
            { type: "leaf", tuple: { ...empty, subject_id: "laura" } },
            { type: "leaf", tuple: ss("directories", "/photos", "owner") },
          ],
        },
        {
          type: "union",
          tuple: ss("files", "/photos/beach.jpg", "owner"),
          children: [{ type: "leaf", tuple: { ...empty, subject_id: "maureen" } }],
        },
      ],
    });
    // Q4: a max-depth above the global limit is clamped, not rejected.
    expect((await call(`${p.read}/relation-tuples/expand?namespace=files&relation=access&object=/photos/beach.jpg&max-depth=99`)).status).toBe(200);
    expect((await call(`${p.read}/relation-tuples/expand?namespace=files&relation=access&object=/nothing`)).status).toBe(404);
    expect((await call(`${p.read}/relation-tuples/expand?namespace=files&object=/x`)).status).toBe(400);
    expect((await call(`${p.read}/relation-tuples/expand?namespace=nope&relation=a&object=/x`)).status).toBe(404);
    expect((await call(`${p.read}/relation-tuples/expand?namespace=files&relation=access&object=/x&max-depth=deep`)).status).toBe(400);
  });

  it("replays subject-id-to-subjectset-migration with an empty subject_set.relation (Q7)", async () => {
    const body = [
      { action: "insert", relation_tuple: { namespace: "File", object: "data.txt", relation: "viewer", subject_id: "user_charlie" } },
      {
        action: "insert",
        relation_tuple: { namespace: "File", object: "data.txt", relation: "viewer", subject_set: { namespace: "User", object: "charlie", relation: "" } },
      },
    ];
    expect((await call(`${p.write}/admin/relation-tuples`, { method: "PATCH", ...json(body) })).status).toBe(204);
    const base = `${p.read}/relation-tuples/check?namespace=File&object=data.txt&relation=viewer`;
    expect((await call(`${base}&subject_id=user_charlie`)).status).toBe(200);
    expect(await call(`${base}&subject_set.namespace=User&subject_set.object=charlie&subject_set.relation=`)).toMatchObject({
      status: 200,
      body: { allowed: true },
    });
    const listed = await call(`${p.read}/relation-tuples?namespace=File&subject_set.namespace=User&subject_set.object=charlie&subject_set.relation=`);
    expect((listed.body as { relation_tuples: unknown[] }).relation_tuples).toEqual([body[1]?.relation_tuple]);
    const migrate = [{ action: "delete", relation_tuple: body[0]?.relation_tuple }];
    expect((await call(`${p.write}/admin/relation-tuples`, { method: "PATCH", ...json(migrate) })).status).toBe(204);
    expect((await call(`${base}&subject_id=user_charlie`)).status).toBe(403);
  });

  it("handles unknown namespaces per route: check false (403 / 200), list 404, writes 404", async () => {
    const q = "namespace=nope&object=o&relation=r&subject_id=john";
    expect(await call(`${p.read}/relation-tuples/check?${q}`)).toMatchObject({ status: 403, body: { allowed: false } });
    expect(await call(`${p.read}/relation-tuples/check/openapi?${q}`)).toMatchObject({ status: 200, body: { allowed: false } });
    const list = await call(`${p.read}/relation-tuples?namespace=nope`);
    expect(list.status).toBe(404);
    // Keto's words: herodot's generic message, the namespace in `reason`.
    expect(list.body).toMatchObject({
      error: { code: 404, status: "Not Found", message: "The requested resource could not be found", reason: 'Unknown namespace with name "nope".' },
    });
    const put = await call(`${p.write}/admin/relation-tuples`, { method: "PUT", ...json({ namespace: "nope", object: "o", relation: "r", subject_id: "j" }) });
    expect(put.status).toBe(404);
    expect((await call(`${p.write}/admin/relation-tuples?namespace=nope`, { method: "DELETE" })).status).toBe(404);
  });

  it("rejects both subject forms, incomplete subject sets and missing subjects with 400 naming the fields", async () => {
    const both = await call(`${p.read}/relation-tuples/check?namespace=messages&object=o&relation=r&subject_id=j&subject_set.namespace=User&subject_set.object=x&subject_set.relation=`);
    expect(both.status).toBe(400);
    expect(JSON.stringify(both.body)).toMatch(/subject_id and subject_set\.namespace, subject_set\.object, subject_set\.relation/);
    const partial = await call(`${p.read}/relation-tuples?subject_set.namespace=User`);
    expect(partial.status).toBe(400);
    expect(JSON.stringify(partial.body)).toMatch(/subject_set\.object/);
    expect((await call(`${p.read}/relation-tuples/check?namespace=messages&object=o&relation=r`)).status).toBe(400);
    const bodyBoth = { namespace: "messages", object: "o", relation: "r", subject_id: "j", subject_set: { namespace: "User", object: "x", relation: "" } };
    const post = await call(`${p.read}/relation-tuples/check`, { method: "POST", ...json(bodyBoth) });
    expect(post.status).toBe(400);
    expect(post.body).toMatchObject({ error: { code: 400, details: { field: "subject_id" } } });
  });

  it("batch-checks in order with per-item errors and rejects batches over the limit", async () => {
    await engine.write([{ op: "touch", tuple: { namespace: "messages", object: "m", relation: "decypher", subject: { kind: "id", id: "john" } } }]);
    const t = { namespace: "messages", object: "m", relation: "decypher", subject_id: "john" };
    const res = await call(`${p.read}/relation-tuples/batch/check`, {
      method: "POST",
      ...json({ tuples: [t, { ...t, subject_id: "jane" }, { ...t, namespace: "nope" }, { namespace: "messages" }] }),
    });
    expect(res.status).toBe(200);
    const results = (res.body as { results: { allowed: boolean; error?: string }[] }).results;
    expect(results.map((r) => r.allowed)).toEqual([true, false, false, false]);
    expect(results[0]).toEqual({ allowed: true });
    expect(results[1]).toEqual({ allowed: false });
    expect(results[2]?.error).toBe("The requested resource could not be found");
    expect(results[3]?.error).toMatch(/subject/);
    const tooMany = await call(`${p.read}/relation-tuples/batch/check`, { method: "POST", ...json({ tuples: Array.from({ length: 11 }, () => t) }) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toMatchObject({ error: { message: "batch exceeds max size of 10" } });
    const wide = await servePlanes({ engine, maxBatchCheckSize: 1000 });
    const ok = await call(`${wide.read}/relation-tuples/batch/check`, { method: "POST", ...json({ tuples: Array.from({ length: 11 }, () => t) }) });
    expect((ok.body as { results: unknown[] }).results).toHaveLength(11);
  });

  it("clamps max-depth above the global limit (Q4) and answers false when depth runs out (Q5)", async () => {
    const chain = [
      { action: "insert", relation_tuple: { namespace: "files", object: "a", relation: "r", subject_set: { namespace: "files", object: "b", relation: "r" } } },
      { action: "insert", relation_tuple: { namespace: "files", object: "b", relation: "r", subject_set: { namespace: "files", object: "c", relation: "r" } } },
      { action: "insert", relation_tuple: { namespace: "files", object: "c", relation: "r", subject_id: "john" } },
    ];
    await call(`${p.write}/admin/relation-tuples`, { method: "PATCH", ...json(chain) });
    const q = `${p.read}/relation-tuples/check?namespace=files&object=a&relation=r&subject_id=john`;
    expect((await call(`${q}&max-depth=2`)).status).toBe(403);
    expect((await call(`${q}&max-depth=3`)).status).toBe(200);
    expect((await call(`${q}&max-depth=100`)).status).toBe(200);
    expect((await call(`${q}&max-depth=x`)).status).toBe(400);
    const strict = await servePlanes({ engine, maxReadDepth: 2, strictLimits: true });
    expect((await call(`${strict.read}/relation-tuples/check?namespace=files&object=a&relation=r&subject_id=john`)).status).toBe(422);
  });

  it("validates writes: PATCH unknown action, missing relation_tuple, malformed JSON, DELETE rules, body cap", async () => {
    const unknown = await call(`${p.write}/admin/relation-tuples`, {
      method: "PATCH",
      ...json([{ action: "upsert", relation_tuple: { namespace: "chats", object: "a", relation: "member", subject_id: "PM" } }]),
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error: { message: expect.stringMatching(/unknown action "upsert"/) as unknown } });
    const missing = await call(`${p.write}/admin/relation-tuples`, { method: "PATCH", ...json([{ action: "insert" }]) });
    expect(missing.status).toBe(400);
    expect(JSON.stringify(missing.body)).toMatch(/relation_tuple is missing/);
    const malformed = await call(`${p.write}/admin/relation-tuples`, { method: "PUT", body: "{not json" });
    expect(malformed.status).toBe(400);
    expect(JSON.stringify(malformed.body)).toMatch(/malformed JSON/);
    expect((await call(`${p.write}/admin/relation-tuples?object=a`, { method: "DELETE" })).status).toBe(400);
    expect((await call(`${p.write}/admin/relation-tuples?namespace=chats&page_size=1`, { method: "DELETE" })).status).toBe(400);
    expect((await call(`${p.write}/admin/relation-tuples?namespace=chats`, { method: "DELETE", body: "{}" })).status).toBe(400);
    const small = await servePlanes({ engine, maxBodyBytes: 64 });
    const big = await call(`${small.write}/admin/relation-tuples`, { method: "PATCH", body: JSON.stringify(Array.from({ length: 10 }, () => chatTuple("a", "PM"))) });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ error: { code: 413 } });
    // Pre-v0.10 write path.
    const legacy = await call(`${p.write}/relation-tuples`, { method: "PUT", ...json({ namespace: "chats", object: "a", relation: "member", subject_id: "PM" }) });
    expect(legacy.status).toBe(201);
  });

  it("lists namespaces, checks OPL syntax with Keto's `Line`, and leaves other paths and planes alone", async () => {
    const ns = await call(`${p.read}/namespaces`);
    expect(ns.status).toBe(200);
    expect((ns.body as { namespaces: { name: string }[] }).namespaces.map((n) => n.name)).toContain("chats");
    const good = await call(`${p.opl}/opl/syntax/check`, { method: "POST", body: "class User implements Namespace {}" });
    expect(good).toMatchObject({ status: 200, body: { errors: [] } });
    const bad = await call(`${p.opl}/opl/syntax/check`, { method: "POST", body: "class User implements Namespace {\n  related: {\n" });
    const errors = (bad.body as { errors: { message: string; start: { Line: number; column: number } }[] }).errors;
    expect(bad.status).toBe(200);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]?.start).toEqual({ Line: expect.any(Number) as unknown, column: expect.any(Number) as unknown });
    expect((await call(`${p.read}/health/alive`)).status).toBe(404);
    expect((await call(`${p.read}/admin/relation-tuples`, { method: "PUT", body: "{}" })).status).toBe(404);
    expect((await call(`${p.write}/relation-tuples/check?namespace=a`)).status).toBe(404);
    expect((await call(`${p.opl}/namespaces`)).status).toBe(404);
  });
});
