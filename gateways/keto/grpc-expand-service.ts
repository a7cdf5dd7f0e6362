/** Keto's `ExpandService` over the engine; the tree mapping is documented in `keto-tree.ts`. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ExpandService,
  NodeType,
  SubjectTreeSchema,
  type SubjectTree,
} from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/expand_service_pb.js";
import { RelationTupleSchema } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/relation_tuples_pb.js";
import type { Subject } from "../../engine/tuple.js";
import { consistencyFromProto, subjectFromProto, subjectToProto } from "./grpc-convert.js";
import { expandKeto } from "./keto-operations.js";
import type { KetoNodeType, KetoTree } from "./keto-tree.js";
import type { ResolvedKetoOptions } from "./options.js";

// gRPC's NodeType lacks Keto's REST-only types; like Keto's `ToProto`, they go out as UNSPECIFIED.
const nodeTypes: Record<KetoNodeType, NodeType> = {
  union: NodeType.UNION,
  exclusion: NodeType.EXCLUSION,
  intersection: NodeType.INTERSECTION,
  leaf: NodeType.LEAF,
  not: NodeType.UNSPECIFIED,
  unspecified: NodeType.UNSPECIFIED,
};

/** A node carrying its subject both in `tuple` (namespace/object/relation empty) and in the deprecated `subject`. */
function subjectNode(type: NodeType, subject: Subject, children: SubjectTree[]): SubjectTree {
  const s = subjectToProto(subject);
  return create(SubjectTreeSchema, {
    nodeType: type,
    subject: s,
    tuple: create(RelationTupleSchema, { namespace: "", object: "", relation: "", subject: s }),
    children,
  });
}

/** Keto's tree as a `SubjectTree`. */
export function treeToProto(tree: KetoTree): SubjectTree {
  return subjectNode(nodeTypes[tree.type], tree.subject, tree.children.map(treeToProto));
}

/** ExpandService: a subject id expands to a single LEAF; a subject set without tuples to an empty response (Q6). */
export function createExpandService(o: ResolvedKetoOptions): ServiceImpl<typeof ExpandService> {
  return {
    async expand(request) {
      const subject = subjectFromProto(request.subject, "subject");
      if (subject.kind === "id") return { tree: subjectNode(NodeType.LEAF, subject, []) };
      const { tree } = await expandKeto(
        o,
        { namespace: subject.namespace, object: subject.object, relation: subject.relation },
        request.maxDepth,
        consistencyFromProto(false, request.snaptoken),
      );
      return tree === undefined ? {} : { tree: treeToProto(tree) };
    },
  };
}
