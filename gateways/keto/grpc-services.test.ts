import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { beforeEach, describe, expect, it } from "vitest";
import type { PermissionEngine } from "../../engine/permission-engine.js";
import { decodeSnaptoken, encodeSnaptoken } from "../../engine/snaptoken.js";
import { parseTuple } from "../../engine/tuple.js";
import { SyntaxService } from "../../proto/gen/ory/keto/opl/v1alpha1/syntax_service_pb.js";
import { CheckService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/check_service_pb.js";
import { ExpandService, NodeType, type SubjectTree } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/expand_service_pb.js";
import { NamespacesService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/namespaces_service_pb.js";
import { ReadService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/read_service_pb.js";
import {
  RelationTupleSchema,
  SubjectSchema,
  SubjectSetSchema,
  type RelationTuple,
  type Subject,
} from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/relation_tuples_pb.js";
import { VersionService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/version_pb.js";
import { RelationTupleDelta_Action, WriteService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/write_service_pb.js";
import { createErrorInterceptor } from "../server/rpc-errors.js";
import { registerKetoGrpcServices, type KetoPlane } from "./grpc-services.js";
import type { KetoGatewayOptions } from "./options.js";
import { openTestEngine } from "./test-fixtures.js";

const id = (value: string): Subject => create(SubjectSchema, { ref: { case: "id", value } });
const set = (namespace: string, object: string, relation: string): Subject =>
  create(SubjectSchema, { ref: { case: "set", value: create(SubjectSetSchema, { namespace, object, relation }) } });
const tuple = (namespace: string, object: string, relation: string, subject: Subject): RelationTuple =>
  create(RelationTupleSchema, { namespace, object, relation, subject });

function transport(plane: KetoPlane, options: KetoGatewayOptions) {
  return createRouterTransport((router) => registerKetoGrpcServices(router, options, plane), {
    router: { interceptors: [createErrorInterceptor(() => undefined)] },
  });
}

async function codeOf(p: Promise<unknown>): Promise<Code | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

/**
 * A compact view of a SubjectTree: `TYPE subject` or `{TYPE subject: [children]}`. Children are sorted:
 * sibling order is not part of Keto's contract (its docs sample changed order between versions).
 */
function show(t: SubjectTree): unknown {
  const ref = t.tuple?.subject?.ref;
  const s =
    ref?.case === "id"
      ? ref.value
      : ref?.case === "set"
        ? `${ref.value.namespace}:${ref.value.object}${ref.value.relation === "" ? "" : `#${ref.value.relation}`}`
        : "?";
  const head = `${NodeType[t.nodeType]} ${s}`;
  if (t.children.length === 0) return head;
  const children = t.children.map(show).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return { [head]: children };
}

describe("Keto gRPC services", () => {
  let engine: PermissionEngine;
  let check: Client<typeof CheckService>;
  let expand: Client<typeof ExpandService>;
  let read: Client<typeof ReadService>;
  let namespaces: Client<typeof NamespacesService>;
  let write: Client<typeof WriteService>;

  beforeEach(async () => {
    engine = await openTestEngine();
    const readT = transport("read", { engine });
    check = createClient(CheckService, readT);
    expand = createClient(ExpandService, readT);
    read = createClient(ReadService, readT);
    namespaces = createClient(NamespacesService, readT);
    write = createClient(WriteService, transport("write", { engine }));
  });

  async function insert(...texts: string[]): Promise<string[]> {
    const res = await write.transactRelationTuples({
      relationTupleDeltas: texts.map((t) => {
        const p = parseTuple(t);
        const subject = p.subject.kind === "id" ? id(p.subject.id) : set(p.subject.namespace, p.subject.object, p.subject.relation);
        return { action: RelationTupleDelta_Action.INSERT, relationTuple: tuple(p.namespace, p.object, p.relation, subject) };
      }),
    });
    return res.snaptokens;
  }

  it("checks with the tuple field or the deprecated fields and returns real snaptokens", async () => {
    const tokens = await insert("messages:02y_15_4w350m3#decypher@john");
    expect(tokens).toHaveLength(1);
    const viaTuple = await check.check({ tuple: tuple("messages", "02y_15_4w350m3", "decypher", id("john")) });
    expect(viaTuple.allowed).toBe(true);
    expect(decodeSnaptoken(viaTuple.snaptoken)).toBe(engine.revision);
    const viaFields = await check.check({ namespace: "messages", object: "02y_15_4w350m3", relation: "decypher", subject: id("john") });
    expect(viaFields.allowed).toBe(true);
    expect((await check.check({ tuple: tuple("messages", "02y_15_4w350m3", "decypher", id("jane")) })).allowed).toBe(false);
  });

  it("honours snaptokens and latest, tolerates Keto's placeholder token, rejects garbage", async () => {
    const [token] = await insert("messages:m#decypher@john");
    const t = tuple("messages", "m", "decypher", id("john"));
    expect((await check.check({ tuple: t, snaptoken: token ?? "" })).allowed).toBe(true);
    expect((await check.check({ tuple: t, latest: true })).allowed).toBe(true);
    expect((await check.check({ tuple: t, snaptoken: "not yet implemented" })).allowed).toBe(true);
    expect(await codeOf(check.check({ tuple: t, snaptoken: "garbage" }))).toBe(Code.InvalidArgument);
    expect(await codeOf(check.check({ tuple: t, snaptoken: encodeSnaptoken(engine.revision + 5) }))).toBe(Code.InvalidArgument);
  });

  it("fails a check on an unknown namespace (Q1) and on a missing subject", async () => {
    expect(await codeOf(check.check({ tuple: tuple("nope", "o", "r", id("john")) }))).toBe(Code.NotFound);
    expect(await codeOf(check.check({ namespace: "messages", object: "o", relation: "r" }))).toBe(Code.InvalidArgument);
  });

  it("clamps max_depth (Q4) and answers false when depth runs out outside strict mode (Q5)", async () => {
    // files:a#r@(files:b#r), files:b#r@(files:c#r), files:c#r@john: three usersets deep.
    await insert("files:a#r@(files:b#r)", "files:b#r@(files:c#r)", "files:c#r@john");
    const t = tuple("files", "a", "r", id("john"));
    expect((await check.check({ tuple: t, maxDepth: 2 })).allowed).toBe(false);
    expect((await check.check({ tuple: t, maxDepth: 3 })).allowed).toBe(true);
    expect((await check.check({ tuple: t, maxDepth: 0 })).allowed).toBe(true);
    expect((await check.check({ tuple: t, maxDepth: 1000 })).allowed).toBe(true);
    const narrow = createClient(CheckService, transport("read", { engine, maxReadDepth: 2 }));
    expect((await narrow.check({ tuple: t, maxDepth: 5 })).allowed).toBe(false);
    const strict = createClient(CheckService, transport("read", { engine, maxReadDepth: 2, strictLimits: true }));
    expect(await codeOf(strict.check({ tuple: t }))).toBe(Code.ResourceExhausted);
  });

  it("batch-checks in order with per-item errors and one snaptoken, and enforces the batch limit", async () => {
    await insert("messages:m#decypher@john");
    const res = await check.batchCheck({
      tuples: [
        tuple("messages", "m", "decypher", id("john")),
        tuple("nope", "m", "decypher", id("john")),
        tuple("messages", "m", "decypher", id("jane")),
        create(RelationTupleSchema, { namespace: "messages", object: "m", relation: "decypher" }),
      ],
    });
    expect(res.results.map((r) => r.allowed)).toEqual([true, false, false, false]);
    expect(res.results[0]?.error).toBe("");
    expect(res.results[1]?.error).toBe("The requested resource could not be found");
    expect(res.results[2]?.error).toBe("");
    expect(res.results[3]?.error).toMatch(/subject is not allowed to be nil/);
    expect(new Set(res.results.map((r) => r.snaptoken)).size).toBe(1);
    const eleven = Array.from({ length: 11 }, () => tuple("messages", "m", "decypher", id("john")));
    const err = await check.batchCheck({ tuples: eleven }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toBe("batch exceeds max size of 10");
    const big = createClient(CheckService, transport("read", { engine, maxBatchCheckSize: 1000 }));
    expect((await big.batchCheck({ tuples: eleven })).results).toHaveLength(11);
  });

  it("expands Keto's docs sample like Keto at max_depth 3", async () => {
    await insert(
      "directories:/photos#owner@maureen",
      "files:/photos/beach.jpg#owner@maureen",
      "files:/photos/mountains.jpg#owner@laura",
      "directories:/photos#access@laura",
      "directories:/photos#access@(directories:/photos#owner)",
      "files:/photos/beach.jpg#access@(files:/photos/beach.jpg#owner)",
      "files:/photos/beach.jpg#access@(directories:/photos#access)",
    );
    const res = await expand.expand({ subject: set("files", "/photos/beach.jpg", "access"), maxDepth: 3 });
    expect(show(res.tree as SubjectTree)).toEqual({
      "UNION files:/photos/beach.jpg#access": [
        { "UNION directories:/photos#access": ["LEAF directories:/photos#owner", "LEAF laura"] },
        { "UNION files:/photos/beach.jpg#owner": ["LEAF maureen"] },
      ],
    });
    // The deprecated `subject` mirrors `tuple.subject`; the tuple's other fields are empty.
    expect(res.tree?.subject).toEqual(res.tree?.tuple?.subject);
    expect(res.tree?.tuple?.namespace).toBe("");
  });

  it("expands a subject id to one LEAF and an empty subject set to an empty response (Q6)", async () => {
    const leaf = await expand.expand({ subject: id("john") });
    expect(leaf.tree?.nodeType).toBe(NodeType.LEAF);
    expect(leaf.tree?.children).toEqual([]);
    expect((await expand.expand({ subject: set("files", "nothing", "access") })).tree).toBeUndefined();
    expect(await codeOf(expand.expand({ subject: set("nope", "x", "y") }))).toBe(Code.NotFound);
  });

  it("maps rewrites: computed to the target, traverse spliced into the union, negation as UNSPECIFIED", async () => {
    await insert("Doc:d#owners@User:ann", "Doc:d#editors@User:bob", "Doc:d#parents@Folder:f", "Folder:f#viewers@User:cy", "Doc:d#banned@User:bob");
    const edit = { "UNION Doc:d#edit": [{ "UNION Doc:d#editors": ["LEAF User:bob"] }, { "UNION Doc:d#owners": ["LEAF User:ann"] }] };
    const view = await expand.expand({ subject: set("Doc", "d", "view"), maxDepth: 5 });
    expect(show(view.tree as SubjectTree)).toEqual({
      "UNION Doc:d#view": [edit, { "UNION Folder:f#viewers": ["LEAF User:cy"] }],
    });
    const strictView = await expand.expand({ subject: set("Doc", "d", "strict_view"), maxDepth: 5 });
    expect(show(strictView.tree as SubjectTree)).toEqual({
      "INTERSECTION Doc:d#strict_view": [
        edit,
        { "UNSPECIFIED Doc:d#strict_view": [{ "UNION Doc:d#banned": ["LEAF User:bob"] }] },
      ],
    });
  });

  it("lists with relation_query or the deprecated query, pages, and 404s an unknown namespace", async () => {
    await insert("chats:a#member@PM", "chats:b#member@PM", "chats:c#member@PM", "chats:c#member@Julia");
    const byNew = await read.listRelationTuples({ relationQuery: { namespace: "chats", subject: id("PM") } });
    expect(byNew.relationTuples.map((t) => t.object).sort()).toEqual(["a", "b", "c"]);
    expect(byNew.nextPageToken).toBe("");
    const byOld = await read.listRelationTuples({ query: { namespace: "chats", object: "c", relation: "member" } });
    expect(byOld.relationTuples).toHaveLength(2);
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await read.listRelationTuples({ relationQuery: { namespace: "chats" }, pageSize: 3, pageToken });
      expect(page.relationTuples.length).toBeLessThanOrEqual(3);
      seen.push(...page.relationTuples.map((t) => `${t.object}@${t.subject?.ref.case === "id" ? t.subject.ref.value : ""}`));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen.sort()).toEqual(["a@PM", "b@PM", "c@Julia", "c@PM"]);
    expect(await codeOf(read.listRelationTuples({ relationQuery: { namespace: "nope" } }))).toBe(Code.NotFound);
  });

  it("writes and deletes in transactions: one snaptoken per delta, deletes by query", async () => {
    const tokens = await insert("chats:a#member@PM", "chats:b#member@PM");
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).toBe(tokens[1]);
    const del = await write.transactRelationTuples({
      relationTupleDeltas: [{ action: RelationTupleDelta_Action.DELETE, relationTuple: tuple("chats", "a", "member", id("PM")) }],
    });
    expect(decodeSnaptoken(del.snaptokens[0] ?? "")).toBeGreaterThan(decodeSnaptoken(tokens[0] ?? ""));
    expect((await read.listRelationTuples({ relationQuery: { namespace: "chats" } })).relationTuples).toHaveLength(1);
    await write.deleteRelationTuples({ relationQuery: { namespace: "chats", object: "b" } });
    expect((await read.listRelationTuples({ relationQuery: { namespace: "chats" } })).relationTuples).toHaveLength(0);
    expect(await codeOf(write.deleteRelationTuples({}))).toBe(Code.InvalidArgument);
    expect(await codeOf(insert("nope:a#member@PM"))).toBe(Code.NotFound);
    const missing = write.transactRelationTuples({ relationTupleDeltas: [{ action: RelationTupleDelta_Action.INSERT }] });
    expect(await codeOf(missing)).toBe(Code.InvalidArgument);
  });

  it("lists namespaces, reports the version, and checks OPL syntax", async () => {
    const ns = await namespaces.listNamespaces({});
    expect(ns.namespaces.map((n) => n.name)).toEqual(["User", "messages", "files", "directories", "chats", "File", "Folder", "Doc"]);
    const version = await createClient(VersionService, transport("write", { engine, version: "9.9.9" })).getVersion({});
    expect(version.version).toBe("9.9.9");
    const syntax = createClient(SyntaxService, transport("opl", { engine }));
    expect((await syntax.check({ content: new TextEncoder().encode("class User implements Namespace {}") })).parseErrors).toEqual([]);
    const bad = await syntax.check({ content: new TextEncoder().encode("class User implements Namespace {\n  related: {\n") });
    expect(bad.parseErrors.length).toBeGreaterThan(0);
    expect(bad.parseErrors[0]?.start?.line).toBeGreaterThanOrEqual(1);
  });

  it("serves each service only on its plane", async () => {
    const writeT = transport("write", { engine });
    expect(await codeOf(createClient(CheckService, writeT).check({ tuple: tuple("messages", "m", "r", id("j")) }))).toBe(Code.Unimplemented);
    const readT = transport("read", { engine });
    expect(await codeOf(createClient(WriteService, readT).transactRelationTuples({}))).toBe(Code.Unimplemented);
  });
});
