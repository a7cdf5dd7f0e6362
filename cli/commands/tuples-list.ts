/**
 * `gatehouse tuples list`: the stored tuples matching the filter flags, from the read endpoint
 * (RelationshipService.ReadRelationships), one page or, with `--all`, every page (all at one revision).
 */
import { RelationshipService } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import type { Relationship } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { commonOptions, commonUsage, parseCommandLine, parseConsistency, parseIntFlag } from "../client/args.js";
import { withConnection } from "../client/connection.js";
import { ExitCode, runCommand, UsageError } from "../client/errors.js";
import { filterFromFlags, filterOptions, filterUsage } from "../client/filter.js";
import { processIo, type ClientIo } from "../client/io.js";
import { relationshipToKetoJson, subjectText } from "../client/tuples.js";

const usage = `Usage: gatehouse tuples list [filter] [--page-size N] [--page-token T | --all] [options]

Prints a table (NAMESPACE, OBJECT, RELATION, SUBJECT) or, with --json, Keto's list shape
{"relation_tuples": [...], "next_page_token", "snaptoken"}, which \`tuples create -f\` reads back.

Options:
${filterUsage}  --page-size N          tuples per page, 1 to 1000 (default: the server's, 100)
  --page-token TOKEN     continue a listing (the next_page_token of the previous page)
  --all                  fetch every page
  --consistency MODE     for the first page; see \`gatehouse check --help\`
  --snaptoken TOKEN
${commonUsage("read")}`;

/** Left-aligned columns, two spaces apart. */
function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => r[col]?.length ?? 0))) ?? [];
  return rows.map((r) => `${r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col] ?? 0))).join("  ")}\n`).join("");
}

/** Runs `gatehouse tuples list`; returns the exit code. */
export async function runTuplesList(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return runCommand("gatehouse tuples list", io, async () => {
    const { values, positionals } = parseCommandLine(args, {
      ...commonOptions,
      ...filterOptions,
      "page-size": { type: "string" },
      "page-token": { type: "string" },
      all: { type: "boolean" },
      consistency: { type: "string" },
      snaptoken: { type: "string" },
    });
    if (values.help === true) {
      io.out(usage);
      return ExitCode.ok;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0] ?? ""}"; filter with --namespace, --object, …`);
    if (values.all === true && values["page-token"] !== undefined) throw new UsageError("--all and --page-token do not go together");
    const pageSize = parseIntFlag(values["page-size"], "page-size", 1, 1000) ?? 0;
    const consistency = parseConsistency(values.consistency, values.snaptoken);
    const { filter } = filterFromFlags(values);

    const relationships: Relationship[] = [];
    let pageToken = values["page-token"] ?? "";
    let snaptoken = "";
    await withConnection("read", values, io, async (c) => {
      const client = c.client(RelationshipService);
      let first = true;
      do {
        // Later pages are pinned to the first page's revision by their token; consistency is for the first.
        const response = await client.readRelationships({
          filter,
          pageSize,
          pageToken,
          ...(first && consistency !== undefined ? { consistency } : {}),
        });
        relationships.push(...response.relationships);
        pageToken = response.nextPageToken;
        snaptoken = response.readAt?.token ?? snaptoken;
        first = false;
      } while (values.all === true && pageToken !== "");
    });

    if (values.json === true) {
      const body = { relation_tuples: relationships.map(relationshipToKetoJson), next_page_token: pageToken, snaptoken };
      io.out(`${JSON.stringify(body, null, 2)}\n`);
      return ExitCode.ok;
    }
    if (relationships.length === 0) io.err("no tuples match\n");
    else {
      io.out(table([["NAMESPACE", "OBJECT", "RELATION", "SUBJECT"], ...relationships.map((r) => [r.namespace, r.object, r.relation, subjectText(r)])]));
    }
    if (pageToken !== "") io.err(`more tuples: continue with --page-token ${pageToken} (or list them all with --all)\n`);
    return ExitCode.ok;
  });
}
