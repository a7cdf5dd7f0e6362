/**
 * `gatehouse tuples delete`: deletes the given tuples (one atomic WriteRelationships of DELETE updates,
 * batched like `tuples create`), or every tuple matching filter flags (one DeleteRelationships). An empty
 * filter is refused here, as the server refuses it, so a forgotten flag cannot empty the store.
 */
import { RelationshipUpdate_Operation } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { RelationshipService } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import { commonOptions, commonUsage, parseCommandLine, parseIntFlag } from "../client/args.js";
import { withConnection } from "../client/connection.js";
import { ExitCode, runCommand, UsageError } from "../client/errors.js";
import { filterFromFlags, filterOptions, filterUsage } from "../client/filter.js";
import { processIo, type ClientIo } from "../client/io.js";
import { readTupleSources } from "../client/tuple-files.js";
import { relationshipFromText } from "../client/tuples.js";
import { DEFAULT_BATCH_SIZE, writeInBatches } from "../client/write-batches.js";

const usage = `Usage: gatehouse tuples delete TUPLE... [-f FILE_OR_DIR]... [options]
       gatehouse tuples delete --namespace NS [--object ID] [--relation REL] [--subject SUBJECT] [options]

The first form deletes the given tuples atomically (a tuple that is not stored is skipped); files as for
\`tuples create\`. The second deletes every tuple matching the filter; at least one filter flag is required.

Options:
  -f, --file PATH        a tuple file or folder (repeatable)
  --batch-size N         updates per request for the first form (default ${DEFAULT_BATCH_SIZE})
${filterUsage}${commonUsage("write")}`;

/** Runs `gatehouse tuples delete`; returns the exit code. */
export async function runTuplesDelete(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return runCommand("gatehouse tuples delete", io, async () => {
    const { values, positionals } = parseCommandLine(args, {
      ...commonOptions,
      ...filterOptions,
      file: { type: "string", short: "f", multiple: true },
      "batch-size": { type: "string" },
    });
    if (values.help === true) {
      io.out(usage);
      return ExitCode.ok;
    }
    const { filter, empty } = filterFromFlags(values);
    const listed = positionals.length > 0 || values.file !== undefined;
    if (listed && !empty) throw new UsageError("give either tuples (arguments or -f) or filter flags, not both");
    if (!listed && empty) throw new UsageError("give tuples to delete, or at least one of --namespace, --object, --relation, --subject, --subject-namespace");

    if (!listed) {
      const response = await withConnection("write", values, io, (c) => c.client(RelationshipService).deleteRelationships({ filter }));
      const count = Number(response.deletedCount);
      const snaptoken = response.deletedAt?.token ?? "";
      if (values.json === true) io.out(`${JSON.stringify({ deleted: count, snaptoken })}\n`);
      else io.out(`deleted ${count} tuple${count === 1 ? "" : "s"}\nsnaptoken: ${snaptoken}\n`);
      return ExitCode.ok;
    }
    const batchSize = parseIntFlag(values["batch-size"], "batch-size", 1, 100_000) ?? DEFAULT_BATCH_SIZE;
    const relationships = [
      ...positionals.map((t, i) => relationshipFromText(t, `argument ${i + 1}`)),
      ...readTupleSources(values.file ?? []),
    ];
    if (relationships.length === 0) throw new UsageError("the files hold no tuples");
    const outcome = await withConnection("write", values, io, (c) =>
      writeInBatches(c, RelationshipUpdate_Operation.DELETE, relationships, batchSize),
    );
    // Deleting a missing tuple is a no-op, so the count is of tuples now absent, not of rows removed.
    if (values.json === true) io.out(`${JSON.stringify({ absent: outcome.count, requests: outcome.requests, snaptoken: outcome.snaptoken })}\n`);
    else io.out(`${outcome.count} tuple${outcome.count === 1 ? " is" : "s are"} no longer stored\nsnaptoken: ${outcome.snaptoken}\n`);
    return ExitCode.ok;
  });
}
