/** Keto's `ory.keto.opl.v1alpha1.SyntaxService` (Check): the parse errors of an OPL text. */
import type { ServiceImpl } from "@connectrpc/connect";
import { SyntaxService } from "../../proto/gen/ory/keto/opl/v1alpha1/syntax_service_pb.js";
import { oplParseErrors } from "./opl-syntax.js";

/** SyntaxService: compiles the content as OPL and returns its errors (never fails for a bad text). */
export function createSyntaxService(): ServiceImpl<typeof SyntaxService> {
  return {
    check(request) {
      const text = new TextDecoder().decode(request.content);
      return { parseErrors: oplParseErrors(text) };
    },
  };
}
