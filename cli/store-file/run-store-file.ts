/**
 * Runs the tests of a loaded store file on a fresh in-memory permission engine per test, through the same
 * engine code the server uses (schema compile, tuple validation, snapshot, evaluator).
 */
import { GatehouseError } from "../../common/errors.js";
import { compileSchema, formatDiagnostic } from "../../engine/schema/compile.js";
import { openPermissionEngine, type PermissionEngine, type PermissionEngineOptions } from "../../engine/permission-engine.js";
import { createMemoryStore } from "../../engine/store/index.js";
import { formatSubject, parseSubject, type RelationTuple, type Subject } from "../../engine/tuple.js";
import { InvalidStoreFileError, type StoreFile, type StoreFileTest, type StoreFileTuple } from "./load-store-file.js";

/** One failed assertion. */
export interface AssertionFailure {
  readonly test: string;
  /** What was asked, e.g. `check user:anne document:1 viewer`. */
  readonly query: string;
  readonly expected: string;
  readonly actual: string;
  /** file:line:column of the assertion block. */
  readonly where: string;
}

/** The outcome of running one store file. */
export interface StoreFileReport {
  readonly passed: number;
  readonly failed: number;
  readonly failures: readonly AssertionFailure[];
  /** Schema warnings (e.g. OPL precedence), formatted with their position. */
  readonly warnings: readonly string[];
}

/** Splits `type:id` into its parts, or fails naming where it was written. */
function parseObject(text: string, where: string): { namespace: string; object: string } {
  const colon = text.indexOf(":");
  if (colon <= 0) throw invalidAt(where, `object "${text}" must be type:id`);
  return { namespace: text.slice(0, colon), object: text.slice(colon + 1) };
}

function invalidAt(where: string, message: string): InvalidStoreFileError {
  const match = /^(.*):(\d+):(\d+)$/.exec(where);
  if (match === null) return new InvalidStoreFileError(where, undefined, undefined, message);
  return new InvalidStoreFileError(match[1] ?? where, Number(match[2]), Number(match[3]), message);
}

function toRelationTuple(t: StoreFileTuple): RelationTuple {
  const { namespace, object } = parseObject(t.object, t.where);
  let subject: Subject;
  try {
    subject = parseSubject(t.user, "user");
  } catch (err) {
    throw invalidAt(t.where, (err as Error).message);
  }
  return { namespace, object, relation: t.relation, subject };
}

function sortedSet(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

function describeError(err: unknown): string {
  return err instanceof GatehouseError ? `error (${err.code}): ${err.message}` : `error: ${String(err)}`;
}

/** Runs every test of a store file. Throws `InvalidStoreFileError` for a bad model or tuple. */
export async function runStoreFile(file: StoreFile, engineOptions: StoreFileEngineOptions = {}): Promise<StoreFileReport> {
  const compiled = compileSchema(file.model, { language: file.language });
  const shift = (d: (typeof compiled.diagnostics)[number]) => ({
    ...d,
    start: { line: d.start.line + file.modelLineOffset, column: d.start.column + file.modelColumnOffset },
  });
  const firstError = compiled.diagnostics.find((d) => d.severity === "error");
  if (compiled.schema === undefined || firstError !== undefined) {
    const errors = compiled.diagnostics.filter((d) => d.severity === "error").map((d) => formatDiagnostic(shift(d)));
    const at = firstError === undefined ? undefined : shift(firstError).start;
    throw new InvalidStoreFileError(file.modelPath, at?.line, at?.column, `invalid ${file.language} model:\n  ${errors.join("\n  ")}`);
  }
  const warnings = compiled.diagnostics
    .filter((d) => d.severity === "warning")
    .map((d) => formatDiagnostic(shift(d), file.modelPath));

  let passed = 0;
  const failures: AssertionFailure[] = [];
  const record = (test: string, query: string, expected: string, actual: string, where: string): void => {
    if (expected === actual) passed++;
    else failures.push({ test, query, expected, actual, where });
  };

  const tests: readonly StoreFileTest[] =
    file.tests.length > 0 ? file.tests : [{ name: "(tuples only)", tuples: [], check: [], listObjects: [], listUsers: [] }];
  for (const test of tests) {
    const engine = await loadEngine(file, test, engineOptions);
    for (const block of test.check) {
      for (const user of block.users) {
        const subject = parseUser(user, block.where);
        for (const objectText of block.objects) {
          const target = parseObject(objectText, block.where);
          for (const [relation, expected] of block.assertions) {
            let actual: string;
            try {
              actual = String((await engine.check({ ...target, relation, subject })).allowed);
            } catch (err) {
              actual = describeError(err);
            }
            record(test.name, `check ${user} ${objectText} ${relation}`, String(expected), actual, block.where);
          }
        }
      }
    }
    for (const block of test.listObjects) {
      const subject = parseUser(block.user, block.where);
      for (const [relation, expectedObjects] of block.assertions) {
        let actual: string;
        try {
          const objects = await allPages(async (cursor) => {
            const r = await engine.lookupResources(
              { namespace: block.type, relation, subject },
              cursor === undefined ? { pageSize: 1000 } : { pageSize: 1000, cursor },
            );
            return { items: r.objects.map((o) => `${block.type}:${o}`), next: r.nextCursor };
          });
          actual = JSON.stringify(sortedSet(objects));
        } catch (err) {
          actual = describeError(err);
        }
        const query = `list_objects ${block.user} ${block.type} ${relation}`;
        record(test.name, query, JSON.stringify(sortedSet(expectedObjects)), actual, block.where);
      }
    }
    for (const block of test.listUsers) {
      const target = parseObject(block.object, block.where);
      for (const [relation, expectedUsers] of block.assertions) {
        let actual: string;
        try {
          const users: string[] = [];
          for (const filter of block.userFilter) {
            users.push(
              ...(await allPages(async (cursor) => {
                const r = await engine.lookupSubjects(
                  {
                    ...target,
                    relation,
                    subjectNamespace: filter.type,
                    ...(filter.relation === undefined ? {} : { subjectRelation: filter.relation }),
                  },
                  cursor === undefined ? { pageSize: 1000 } : { pageSize: 1000, cursor },
                );
                return { items: r.subjects.map(formatSubject), next: r.nextCursor };
              })),
            );
          }
          actual = JSON.stringify(sortedSet(users));
        } catch (err) {
          actual = describeError(err);
        }
        const query = `list_users ${block.object} ${relation} [${block.userFilter.map((f) => (f.relation === undefined ? f.type : `${f.type}#${f.relation}`)).join(", ")}]`;
        record(test.name, query, JSON.stringify(sortedSet(expectedUsers)), actual, block.where);
      }
    }
  }
  return { passed, failed: failures.length, failures, warnings };
}

function parseUser(user: string, where: string): Subject {
  try {
    return parseSubject(user, "user");
  } catch (err) {
    throw invalidAt(where, (err as Error).message);
  }
}

async function allPages(fetch: (cursor: string | undefined) => Promise<{ items: string[]; next: string | undefined }>): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetch(cursor);
    out.push(...page.items);
    cursor = page.next;
  } while (cursor !== undefined);
  return out;
}

/** Engine options for the run (tests run store files through the worker pool too). */
export type StoreFileEngineOptions = Omit<PermissionEngineOptions, "store">;

/** A fresh engine holding the file's model, its global tuples and the test's own tuples. */
async function loadEngine(file: StoreFile, test: StoreFileTest, engineOptions: StoreFileEngineOptions): Promise<PermissionEngine> {
  const engine = await openPermissionEngine({ quantizationMs: 0, ...engineOptions, store: createMemoryStore() });
  await engine.writeSchema(file.model, file.language);
  const sources = [...file.tuples, ...test.tuples];
  const tuples = sources.map(toRelationTuple);
  try {
    await engine.write(tuples.map((tuple) => ({ op: "touch", tuple })));
  } catch (err) {
    // The engine names the offending batch index (`tuples[i]`); point at the tuple in its file instead.
    const field = err instanceof GatehouseError ? String(err.details.field ?? "") : "";
    const index = /^tuples\[(\d+)\]/.exec(field)?.[1];
    const source = index === undefined ? undefined : sources[Number(index)];
    if (source !== undefined) throw invalidAt(source.where, `invalid tuple: ${(err as Error).message}`);
    throw err;
  }
  return engine;
}
