/**
 * `gatehouse namespaces`: the namespaces of the stored schema, one per line, from Keto's
 * NamespacesService/ListNamespaces on the read endpoint (Gatehouse's own API has no such call).
 */
import { NamespacesService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/namespaces_service_pb.js";
import { commonOptions, commonUsage, parseCommandLine } from "../client/args.js";
import { withConnection } from "../client/connection.js";
import { ExitCode, runCommand, UsageError } from "../client/errors.js";
import { processIo, type ClientIo } from "../client/io.js";

const usage = `Usage: gatehouse namespaces [options]

Lists the namespaces (types) of the stored schema in declaration order. With --json: {"namespaces": [...]}.

Options:
${commonUsage("read")}`;

/** Runs `gatehouse namespaces`; returns the exit code. */
export async function runNamespaces(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return runCommand("gatehouse namespaces", io, async () => {
    const { values, positionals } = parseCommandLine(args, commonOptions);
    if (values.help === true) {
      io.out(usage);
      return ExitCode.ok;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0] ?? ""}"`);
    const response = await withConnection("read", values, io, (c) => c.client(NamespacesService).listNamespaces({}));
    const names = response.namespaces.map((n) => n.name);
    io.out(values.json === true ? `${JSON.stringify({ namespaces: names })}\n` : names.map((n) => `${n}\n`).join(""));
    return ExitCode.ok;
  });
}
