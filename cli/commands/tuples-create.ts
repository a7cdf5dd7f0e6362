/**
 * `gatehouse tuples create TUPLE... | -f FILE_OR_DIR...`: writes tuples on the write endpoint with one atomic
 * WriteRelationships (TOUCH: an existing tuple is kept, as Keto's insert does), split into batches of
 * `--batch-size` (default 1,000) when there are more.
 */
import { RelationshipUpdate_Operation } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { commonOptions, commonUsage, parseCommandLine, parseIntFlag } from "../client/args.js";
import { withConnection } from "../client/connection.js";
import { ExitCode, runCommand, UsageError } from "../client/errors.js";
import { processIo, type ClientIo } from "../client/io.js";
import { readTupleSources } from "../client/tuple-files.js";
import { relationshipFromText } from "../client/tuples.js";
import { DEFAULT_BATCH_SIZE, writeInBatches } from "../client/write-batches.js";

const usage = `Usage: gatehouse tuples create TUPLE... [-f FILE_OR_DIR]... [options]

Writes the tuples (Keto's text form, ns:obj#rel@subject) and the tuples of the files in one atomic request.
Files: .json/.yaml/.yml hold an array of tuples, each a text line, a Keto object {namespace, object,
relation, subject_id | subject_set: {namespace, object, relation}} or an OpenFGA object {user, relation,
object}; \`tuples list --json\` output reads back. Other files: one text tuple per line (# comments).
A folder: every .json/.yaml/.yml file in it.

Options:
  -f, --file PATH        a tuple file or folder (repeatable)
  --fail-if-exists       fail (and write nothing) when a tuple already exists; default: keep it
  --batch-size N         updates per request (default ${DEFAULT_BATCH_SIZE}); more tuples than this are written in
                         several requests, each atomic on its own
${commonUsage("write")}`;

/** Runs `gatehouse tuples create`; returns the exit code. */
export async function runTuplesCreate(args: readonly string[], io: ClientIo = processIo): Promise<number> {
  return runCommand("gatehouse tuples create", io, async () => {
    const { values, positionals } = parseCommandLine(args, {
      ...commonOptions,
      file: { type: "string", short: "f", multiple: true },
      "fail-if-exists": { type: "boolean" },
      "batch-size": { type: "string" },
    });
    if (values.help === true) {
      io.out(usage);
      return ExitCode.ok;
    }
    const batchSize = parseIntFlag(values["batch-size"], "batch-size", 1, 100_000) ?? DEFAULT_BATCH_SIZE;
    const relationships = [
      ...positionals.map((t, i) => relationshipFromText(t, `argument ${i + 1}`)),
      ...readTupleSources(values.file ?? []),
    ];
    if (relationships.length === 0) throw new UsageError("give tuples as arguments or with -f FILE_OR_DIR");
    const operation = values["fail-if-exists"] === true ? RelationshipUpdate_Operation.CREATE : RelationshipUpdate_Operation.TOUCH;
    const outcome = await withConnection("write", values, io, (c) => writeInBatches(c, operation, relationships, batchSize));
    if (values.json === true) io.out(`${JSON.stringify({ written: outcome.count, requests: outcome.requests, snaptoken: outcome.snaptoken })}\n`);
    else io.out(`wrote ${outcome.count} tuple${outcome.count === 1 ? "" : "s"}${outcome.requests > 1 ? ` in ${outcome.requests} requests` : ""}\nsnaptoken: ${outcome.snaptoken}\n`);
    return ExitCode.ok;
  });
}
