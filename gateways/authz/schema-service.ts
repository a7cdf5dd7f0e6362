/** `gatehouse.authz.v1.SchemaService` over a `PermissionEngine`. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { NotFoundError } from "../../common/errors.js";
import type { PermissionEngine } from "../../engine/permission-engine.js";
import {
  ReadSchemaResponseSchema,
  SchemaService,
  ValidateSchemaResponseSchema,
  WriteSchemaResponseSchema,
} from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";
import { diagnosticToProto, languageFromProto, languageToProto, snaptokenOf } from "./convert.js";
import { withFieldNames } from "./field-names.js";

/** The SchemaService implementation. ValidateSchema compiles with the engine's own settings. */
export function createSchemaService(engine: PermissionEngine): ServiceImpl<typeof SchemaService> {
  return {
    async writeSchema(request) {
      const language = languageFromProto(request.language);
      // The engine names the schema source `schema`; in this API it is the request's `text`. Its error keeps
      // every error diagnostic in `details.diagnostics`.
      const result = await withFieldNames([{ from: /^schema$/, to: "text" }], () => engine.writeSchema(request.text, language));
      return create(WriteSchemaResponseSchema, {
        writtenAt: snaptokenOf(result.revision),
        warnings: result.diagnostics.filter((d) => d.severity === "warning").map(diagnosticToProto),
      });
    },

    async readSchema() {
      const stored = await engine.storedSchema();
      if (stored === undefined) {
        throw new NotFoundError("no schema has been written yet; write one with WriteSchema first", { reason: "no_schema" });
      }
      return create(ReadSchemaResponseSchema, {
        text: stored.text,
        language: languageToProto(stored.language),
        // Read from the store's head: at least the schema's own revision, even if this node's snapshot trails.
        readAt: snaptokenOf(Math.max(stored.revision, engine.revision)),
      });
    },

    async validateSchema(request) {
      const language = languageFromProto(request.language);
      const compiled = engine.validateSchema(request.text, language);
      return create(ValidateSchemaResponseSchema, {
        valid: compiled.schema !== undefined,
        diagnostics: compiled.diagnostics.map(diagnosticToProto),
        language: languageToProto(compiled.language),
      });
    },
  };
}
