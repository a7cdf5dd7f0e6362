/**
 * `gatehouse check TUPLE`: asks the read endpoint (PermissionService.Check) whether the subject has the
 * relation. "denied" is an answer, not a failure: exit 0 either way, unless `--exit-code` asks for 3.
 */
import { commonOptions, commonUsage, evaluationFields, evaluationOptions, evaluationUsage, parseCommandLine } from "../client/args.js";
import { withConnection } from "../client/connection.js";
import { ExitCode, runCommand, UsageError } from "../client/errors.js";
import { processIo, type ClientIo } from "../client/io.js";
import { relationshipFromText } from "../client/tuples.js";
import { PermissionService } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";

const usage = `Usage: gatehouse check NAMESPACE:OBJECT#RELATION@SUBJECT [options]
       gatehouse check SUBJECT RELATION NAMESPACE OBJECT [options]   (Keto's argument order)

Prints "allowed" or "denied", then the snaptoken the answer was evaluated at. SUBJECT is a bare id (john),
a typed object (user:anne) or a subject set (group:eng#member).

Options:
${commonUsage("read")}${evaluationUsage}  --contextual TUPLE     a tuple that holds for this check only (repeatable)
  --exit-code            exit 3 when denied (default: 0 for allowed and denied alike)

Exit: 0 answered, 1 request failed, 2 usage error, 3 denied with --exit-code.
`;

/** Runs `gatehouse check`; returns the exit code. */
export async function runCheck(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return runCommand("gatehouse check", io, async () => {
    const { values, positionals } = parseCommandLine(args, {
      ...commonOptions,
      ...evaluationOptions,
      contextual: { type: "string", multiple: true },
      "exit-code": { type: "boolean" },
    });
    if (values.help === true) {
      io.out(usage);
      return ExitCode.ok;
    }
    let text: string;
    if (positionals.length === 1 && positionals[0] !== undefined) text = positionals[0];
    else if (positionals.length === 4) {
      const [subject, relation, namespace, object] = positionals as [string, string, string, string];
      text = `${namespace}:${object}#${relation}@${subject}`;
    } else {
      throw new UsageError(`expected one tuple (ns:obj#rel@subject) or SUBJECT RELATION NAMESPACE OBJECT, got ${positionals.length} arguments`);
    }
    const relationship = relationshipFromText(text, "tuple");
    const contextualRelationships = (values.contextual ?? []).map((t, i) => relationshipFromText(t, `--contextual[${i}]`));
    const fields = evaluationFields(values);
    const response = await withConnection("read", values, io, (c) =>
      c.client(PermissionService).check({ relationship, contextualRelationships, ...fields }),
    );
    const snaptoken = response.checkedAt?.token ?? "";
    if (values.json === true) io.out(`${JSON.stringify({ allowed: response.allowed, snaptoken })}\n`);
    else io.out(`${response.allowed ? "allowed" : "denied"}\nsnaptoken: ${snaptoken}\n`);
    return !response.allowed && values["exit-code"] === true ? ExitCode.denied : ExitCode.ok;
  });
}
