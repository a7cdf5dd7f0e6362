/** Keto's `NamespacesService` (ListNamespaces): the types of the current schema. */
import type { ServiceImpl } from "@connectrpc/connect";
import { NamespacesService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/namespaces_service_pb.js";
import { namespaceNames } from "./keto-operations.js";
import type { ResolvedKetoOptions } from "./options.js";

/** NamespacesService: every namespace (OPL class) of the schema, in declaration order. */
export function createNamespacesService(o: ResolvedKetoOptions): ServiceImpl<typeof NamespacesService> {
  return {
    listNamespaces() {
      return { namespaces: namespaceNames(o).map((name) => ({ name })) };
    },
  };
}
