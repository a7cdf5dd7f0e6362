/**
 * Wire facts a Keto client relies on, checked against the generated descriptors and hand-encoded bytes: field
 * numbers and wire types, enum values, deprecated markers, presence, and the full gRPC method paths. Plus the
 * shape of Gatehouse's own services (names and streaming kinds), which clients and gateways depend on.
 */
import { create, fromBinary, toBinary, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  CheckRequestSchema as OplCheckRequestSchema,
  CheckResponseSchema as OplCheckResponseSchema,
  ParseErrorSchema,
  SourcePositionSchema,
  SyntaxService,
} from "../../proto/gen/ory/keto/opl/v1alpha1/syntax_service_pb.js";
import {
  BatchCheckRequestSchema,
  BatchCheckResponseSchema,
  CheckRequestSchema,
  CheckResponseSchema,
  CheckResponseWithErrorSchema,
  CheckService,
} from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/check_service_pb.js";
import {
  ExpandRequestSchema,
  ExpandResponseSchema,
  ExpandService,
  NodeType,
  NodeTypeSchema,
  SubjectTreeSchema,
} from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/expand_service_pb.js";
import {
  ListNamespacesResponseSchema,
  NamespacesService,
} from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/namespaces_service_pb.js";
import {
  ListRelationTuplesRequestSchema,
  ListRelationTuplesRequest_QuerySchema,
  ListRelationTuplesResponseSchema,
  ReadService,
} from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/read_service_pb.js";
import {
  RelationQuerySchema,
  RelationTupleSchema,
  SubjectSchema,
  SubjectSetSchema,
} from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/relation_tuples_pb.js";
import { GetVersionResponseSchema, VersionService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/version_pb.js";
import {
  DeleteRelationTuplesRequestSchema,
  DeleteRelationTuplesResponseSchema,
  RelationTupleDeltaSchema,
  RelationTupleDelta_Action,
  RelationTupleDelta_ActionSchema,
  TransactRelationTuplesRequestSchema,
  TransactRelationTuplesResponseSchema,
  WriteService,
} from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/write_service_pb.js";
import { PermissionService } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import { RelationshipService } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import { RelationshipFilterSchema } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { SchemaService } from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";

/** `{proto_field_name: number}` of a message, in declaration order. */
function numbers(schema: DescMessage): Record<string, number> {
  return Object.fromEntries(schema.fields.map((f) => [f.name, f.number]));
}

/** The names of a message's deprecated fields. */
function deprecated(schema: DescMessage): string[] {
  return schema.fields.filter((f) => f.deprecated).map((f) => f.name);
}

/** `/package.Service/Method` paths with each method's kind. */
function paths(service: DescService): Record<string, string> {
  return Object.fromEntries(service.methods.map((m) => [`/${service.typeName}/${m.name}`, m.methodKind]));
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("Keto relation_tuples v1alpha2 wire format", () => {
  it("RelationTuple, Subject and SubjectSet have Keto's field numbers", () => {
    expect(numbers(RelationTupleSchema)).toEqual({ namespace: 1, object: 2, relation: 3, subject: 4 });
    expect(numbers(SubjectSchema)).toEqual({ id: 1, set: 2 });
    expect(SubjectSchema.oneofs.map((o) => [o.name, o.fields.map((f) => f.name)])).toEqual([["ref", ["id", "set"]]]);
    expect(numbers(SubjectSetSchema)).toEqual({ namespace: 1, object: 2, relation: 3 });
    expect(numbers(RelationQuerySchema)).toEqual({ namespace: 1, object: 2, relation: 3, subject: 4 });
    // RelationQuery tracks presence: an unset field matches anything, "" matches the empty id.
    expect(RelationQuerySchema.fields.every((f) => f.proto.proto3Optional)).toBe(true);
  });

  it("encodes a tuple byte for byte as Keto does", () => {
    const tuple = create(RelationTupleSchema, {
      namespace: "n",
      object: "o",
      relation: "r",
      subject: { ref: { case: "id", value: "s" } },
    });
    // 0a 01 'n' | 12 01 'o' | 1a 01 'r' | 22 03 (0a 01 's')
    expect(hex(toBinary(RelationTupleSchema, tuple))).toBe("0a016e12016f1a017222030a0173");
    const set = create(SubjectSchema, { ref: { case: "set", value: { namespace: "g", object: "e", relation: "m" } } });
    // 12 09 (0a 01 'g' 12 01 'e' 1a 01 'm')
    expect(hex(toBinary(SubjectSchema, set))).toBe("12090a01671201651a016d");
  });

  it("keeps an explicitly empty RelationQuery field distinct from an unset one", () => {
    const bytes = toBinary(RelationQuerySchema, create(RelationQuerySchema, { namespace: "n", object: "" }));
    expect(hex(bytes)).toBe("0a016e1200");
    const back = fromBinary(RelationQuerySchema, bytes);
    expect(back.object).toBe("");
    expect(back.relation).toBeUndefined();
  });

  it("CheckRequest: tuple=8, latest=5, snaptoken=6, max_depth=7, the flat fields deprecated", () => {
    expect(numbers(CheckRequestSchema)).toEqual({
      namespace: 1,
      object: 2,
      relation: 3,
      subject: 4,
      tuple: 8,
      latest: 5,
      snaptoken: 6,
      max_depth: 7,
    });
    expect(deprecated(CheckRequestSchema)).toEqual(["namespace", "object", "relation", "subject"]);
    // A client sending tuple{namespace:"n"}, snaptoken "t", max_depth 3 (field order as a Go client writes it).
    const wire = new Uint8Array([0x32, 0x01, 0x74, 0x38, 0x03, 0x42, 0x03, 0x0a, 0x01, 0x6e]);
    const request = fromBinary(CheckRequestSchema, wire);
    expect(request.tuple?.namespace).toBe("n");
    expect(request.snaptoken).toBe("t");
    expect(request.maxDepth).toBe(3);
    expect(numbers(CheckResponseSchema)).toEqual({ allowed: 1, snaptoken: 2 });
    expect(hex(toBinary(CheckResponseSchema, create(CheckResponseSchema, { allowed: true })))).toBe("0801");
  });

  it("BatchCheck messages", () => {
    expect(numbers(BatchCheckRequestSchema)).toEqual({ tuples: 1, latest: 2, snaptoken: 3, max_depth: 4 });
    expect(numbers(BatchCheckResponseSchema)).toEqual({ results: 1 });
    expect(numbers(CheckResponseWithErrorSchema)).toEqual({ allowed: 1, error: 2, snaptoken: 3 });
  });

  it("Expand: tree=1, SubjectTree fields and NodeType values", () => {
    expect(numbers(ExpandRequestSchema)).toEqual({ subject: 1, max_depth: 2, snaptoken: 3 });
    expect(numbers(ExpandResponseSchema)).toEqual({ tree: 1 });
    expect(numbers(SubjectTreeSchema)).toEqual({ node_type: 1, subject: 2, tuple: 4, children: 3 });
    expect(deprecated(SubjectTreeSchema)).toEqual(["subject"]);
    expect(NodeTypeSchema.values.map((v) => [v.name, v.number])).toEqual([
      ["NODE_TYPE_UNSPECIFIED", 0],
      ["NODE_TYPE_UNION", 1],
      ["NODE_TYPE_EXCLUSION", 2],
      ["NODE_TYPE_INTERSECTION", 3],
      ["NODE_TYPE_LEAF", 4],
    ]);
    const response = create(ExpandResponseSchema, { tree: { nodeType: NodeType.LEAF } });
    // 0a 02 (08 04)
    expect(hex(toBinary(ExpandResponseSchema, response))).toBe("0a020804");
  });

  it("ListRelationTuples: relation_query=6, the nested deprecated Query=1, expand_mask=2 is a FieldMask", () => {
    expect(numbers(ListRelationTuplesRequestSchema)).toEqual({
      query: 1,
      relation_query: 6,
      expand_mask: 2,
      snaptoken: 3,
      page_size: 4,
      page_token: 5,
    });
    expect(deprecated(ListRelationTuplesRequestSchema)).toEqual(["query"]);
    expect(ListRelationTuplesRequestSchema.field.expandMask.message?.typeName).toBe("google.protobuf.FieldMask");
    expect(ListRelationTuplesRequest_QuerySchema.typeName).toBe("ory.keto.relation_tuples.v1alpha2.ListRelationTuplesRequest.Query");
    expect(numbers(ListRelationTuplesRequest_QuerySchema)).toEqual({ namespace: 1, object: 2, relation: 3, subject: 4 });
    expect(numbers(ListRelationTuplesResponseSchema)).toEqual({ relation_tuples: 1, next_page_token: 2 });
  });

  it("Write messages: deltas, Action values, snaptokens=1, DeleteRelationTuples", () => {
    expect(numbers(TransactRelationTuplesRequestSchema)).toEqual({ relation_tuple_deltas: 1 });
    expect(numbers(RelationTupleDeltaSchema)).toEqual({ action: 1, relation_tuple: 2 });
    expect(RelationTupleDelta_ActionSchema.typeName).toBe("ory.keto.relation_tuples.v1alpha2.RelationTupleDelta.Action");
    expect(RelationTupleDelta_ActionSchema.values.map((v) => [v.name, v.number])).toEqual([
      ["ACTION_UNSPECIFIED", 0],
      ["ACTION_INSERT", 1],
      ["ACTION_DELETE", 2],
    ]);
    const delta = create(RelationTupleDeltaSchema, { action: RelationTupleDelta_Action.DELETE });
    expect(hex(toBinary(RelationTupleDeltaSchema, delta))).toBe("0802");
    expect(numbers(TransactRelationTuplesResponseSchema)).toEqual({ snaptokens: 1 });
    const response = create(TransactRelationTuplesResponseSchema, { snaptokens: ["a", ""] });
    expect(hex(toBinary(TransactRelationTuplesResponseSchema, response))).toBe("0a01610a00");
    expect(numbers(DeleteRelationTuplesRequestSchema)).toEqual({ query: 1, relation_query: 2 });
    expect(deprecated(DeleteRelationTuplesRequestSchema)).toEqual(["query"]);
    expect(DeleteRelationTuplesResponseSchema.fields).toEqual([]);
  });

  it("namespaces and version", () => {
    expect(numbers(ListNamespacesResponseSchema)).toEqual({ namespaces: 1 });
    expect(numbers(GetVersionResponseSchema)).toEqual({ version: 1 });
  });

  it("serves Keto's exact gRPC method paths, all unary", () => {
    expect({
      ...paths(CheckService),
      ...paths(ExpandService),
      ...paths(ReadService),
      ...paths(WriteService),
      ...paths(NamespacesService),
      ...paths(VersionService),
      ...paths(SyntaxService),
    }).toEqual({
      "/ory.keto.relation_tuples.v1alpha2.CheckService/Check": "unary",
      "/ory.keto.relation_tuples.v1alpha2.CheckService/BatchCheck": "unary",
      "/ory.keto.relation_tuples.v1alpha2.ExpandService/Expand": "unary",
      "/ory.keto.relation_tuples.v1alpha2.ReadService/ListRelationTuples": "unary",
      "/ory.keto.relation_tuples.v1alpha2.WriteService/TransactRelationTuples": "unary",
      "/ory.keto.relation_tuples.v1alpha2.WriteService/DeleteRelationTuples": "unary",
      "/ory.keto.relation_tuples.v1alpha2.NamespacesService/ListNamespaces": "unary",
      "/ory.keto.relation_tuples.v1alpha2.VersionService/GetVersion": "unary",
      "/ory.keto.opl.v1alpha1.SyntaxService/Check": "unary",
    });
    expect(CheckService.method.check.input.typeName).toBe("ory.keto.relation_tuples.v1alpha2.CheckRequest");
    expect(CheckService.method.check.output.typeName).toBe("ory.keto.relation_tuples.v1alpha2.CheckResponse");
  });
});

describe("Keto OPL v1alpha1 wire format", () => {
  it("CheckRequest.content=1 is bytes; ParseError positions are line=1, column=2", () => {
    expect(numbers(OplCheckRequestSchema)).toEqual({ content: 1 });
    expect(OplCheckRequestSchema.field.content.scalar).toBe(12); // ScalarType.BYTES
    expect(numbers(OplCheckResponseSchema)).toEqual({ parse_errors: 1 });
    expect(numbers(ParseErrorSchema)).toEqual({ message: 1, start: 2, end: 3 });
    expect(numbers(SourcePositionSchema)).toEqual({ line: 1, column: 2 });
    expect(SourcePositionSchema.fields.map((f) => f.scalar)).toEqual([13, 13]); // ScalarType.UINT32
    const response = create(OplCheckResponseSchema, {
      parseErrors: [{ message: "m", start: { line: 1, column: 2 }, end: { line: 3, column: 4 } }],
    });
    // 0a 0f (0a 01 'm' | 12 04 (08 01 10 02) | 1a 04 (08 03 10 04))
    expect(hex(toBinary(OplCheckResponseSchema, response))).toBe("0a0f0a016d120408011002" + "1a0408031004");
  });
});

describe("Gatehouse authz v1 services", () => {
  it("have the expected methods and streaming kinds", () => {
    expect(paths(PermissionService)).toEqual({
      "/gatehouse.authz.v1.PermissionService/Check": "unary",
      "/gatehouse.authz.v1.PermissionService/BatchCheck": "unary",
      "/gatehouse.authz.v1.PermissionService/Expand": "unary",
      "/gatehouse.authz.v1.PermissionService/LookupResources": "server_streaming",
      "/gatehouse.authz.v1.PermissionService/LookupSubjects": "server_streaming",
    });
    expect(paths(RelationshipService)).toEqual({
      "/gatehouse.authz.v1.RelationshipService/ReadRelationships": "unary",
      "/gatehouse.authz.v1.RelationshipService/WriteRelationships": "unary",
      "/gatehouse.authz.v1.RelationshipService/DeleteRelationships": "unary",
      "/gatehouse.authz.v1.RelationshipService/Watch": "server_streaming",
    });
    expect(paths(SchemaService)).toEqual({
      "/gatehouse.authz.v1.SchemaService/WriteSchema": "unary",
      "/gatehouse.authz.v1.SchemaService/ReadSchema": "unary",
      "/gatehouse.authz.v1.SchemaService/ValidateSchema": "unary",
    });
  });

  it("RelationshipFilter can say 'unset' and 'empty' apart for every string field", () => {
    const strings = RelationshipFilterSchema.fields.filter((f) => f.fieldKind === "scalar");
    expect(strings.map((f) => f.name)).toEqual(["namespace", "object", "relation", "subject_namespace", "subject_relation"]);
    expect(strings.every((f) => f.proto.proto3Optional)).toBe(true);
    const back = fromBinary(RelationshipFilterSchema, toBinary(RelationshipFilterSchema, create(RelationshipFilterSchema, { object: "" })));
    expect(back.object).toBe("");
    expect(back.namespace).toBeUndefined();
  });
});
