/**
 * `gatehouse expand NAMESPACE:OBJECT#RELATION`: the userset tree from the read endpoint
 * (PermissionService.Expand), as indented text or, with `--json`, as the proto's JSON form.
 */
import { toJson } from "@bufbuild/protobuf";
import { commonOptions, commonUsage, evaluationFields, evaluationOptions, evaluationUsage, parseCommandLine, parseIntFlag } from "../client/args.js";
import { withConnection } from "../client/connection.js";
import { ExitCode, RequestError, runCommand, UsageError } from "../client/errors.js";
import { processIo, type ClientIo } from "../client/io.js";
import { expandTreeToText } from "../client/tree-text.js";
import { PermissionService, UsersetTreeSchema } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";

const usage = `Usage: gatehouse expand NAMESPACE:OBJECT#RELATION [options]
       gatehouse expand RELATION NAMESPACE OBJECT [options]   (Keto's argument order)

Prints the userset tree: how the schema's rewrites and the stored tuples make up the members, one node per
line; then the snaptoken. With --json: {"tree": <gatehouse.authz.v1.UsersetTree as proto JSON>, "snaptoken"}.

Options:
${commonUsage("read")}${evaluationUsage}  --max-nodes N          cut the tree after N nodes (default: the server's limit)
`;

/** Splits `ns:obj#rel` at the first `:` and the last `#`, as the tuple parser does. */
function parseUserset(text: string): { namespace: string; object: string; relation: string } {
  const colon = text.indexOf(":");
  const hash = text.lastIndexOf("#");
  if (colon <= 0 || hash < colon || hash === text.length - 1 || text.includes("@")) {
    throw new UsageError(`"${text}" is not of the form namespace:object#relation`);
  }
  return { namespace: text.slice(0, colon), object: text.slice(colon + 1, hash), relation: text.slice(hash + 1) };
}

/** Runs `gatehouse expand`; returns the exit code. */
export async function runExpand(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return runCommand("gatehouse expand", io, async () => {
    const { values, positionals } = parseCommandLine(args, { ...commonOptions, ...evaluationOptions, "max-nodes": { type: "string" } });
    if (values.help === true) {
      io.out(usage);
      return ExitCode.ok;
    }
    let userset: { namespace: string; object: string; relation: string };
    if (positionals.length === 1 && positionals[0] !== undefined) userset = parseUserset(positionals[0]);
    else if (positionals.length === 3) {
      const [relation, namespace, object] = positionals as [string, string, string];
      userset = { namespace, object, relation };
    } else {
      throw new UsageError(`expected namespace:object#relation or RELATION NAMESPACE OBJECT, got ${positionals.length} arguments`);
    }
    const maxNodes = parseIntFlag(values["max-nodes"], "max-nodes", 1, 2 ** 32 - 1) ?? 0;
    const fields = evaluationFields(values);
    const response = await withConnection("read", values, io, (c) =>
      c.client(PermissionService).expand({ ...userset, ...fields, maxNodes }),
    );
    const snaptoken = response.expandedAt?.token ?? "";
    if (response.tree === undefined) throw new RequestError("the server answered without a tree");
    if (values.json === true) {
      const tree = toJson(UsersetTreeSchema, response.tree, { useProtoFieldName: true });
      io.out(`${JSON.stringify({ tree, snaptoken }, null, 2)}\n`);
    } else {
      io.out(`${expandTreeToText(response.tree)}snaptoken: ${snaptoken}\n`);
    }
    return ExitCode.ok;
  });
}
