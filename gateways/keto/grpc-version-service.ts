/** Keto's `VersionService` (GetVersion). */
import type { ServiceImpl } from "@connectrpc/connect";
import { VersionService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/version_pb.js";
import type { ResolvedKetoOptions } from "./options.js";

/** VersionService: Gatehouse's version (package.json's unless configured). */
export function createVersionService(o: ResolvedKetoOptions): ServiceImpl<typeof VersionService> {
  return {
    getVersion() {
      return { version: o.version };
    },
  };
}
