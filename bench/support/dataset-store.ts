/**
 * A read-only tuple store over a dataset generator, for the in-process figures: the engine opens on it as on
 * any store (schema, head revision, paged full read), but the tuples stream from the generator instead of
 * sitting in a memory store, so a 1M or 10M dataset costs only the engine's own snapshot. Writes are refused;
 * the write figures use PGlite and PostgreSQL.
 */
import { UnavailableError } from "../../common/errors.js";
import type { SchemaLanguage } from "../../engine/schema/ir.js";
import type {
  ChangesResult,
  GarbageCollection,
  DeleteResult,
  ReadOptions,
  ReadResult,
  StoredSchema,
  TupleFilter,
  TupleStore,
  WriteResult,
} from "../../engine/store/index.js";
import type { RelationTuple } from "../../engine/tuple.js";

/** The revision the dataset is stored at (the schema is revision 1, as if written first). */
const REVISION = 1;

/**
 * A store holding `schema` and the tuples of `source()` at revision 1. `scan` (the snapshot's bulk read)
 * streams the source in batches. A full `read` (`filter` empty) streams it page by page; the page token is the offset, and the same generator continues when the next page
 * asks for the offset it stopped at, so one listing is one pass.
 */
export function createDatasetStore(schema: { text: string; language: SchemaLanguage }, source: () => Iterable<RelationTuple>): TupleStore {
  let cursor: { offset: number; iterator: Iterator<RelationTuple> } | undefined;
  const refuse = (): never => {
    throw new UnavailableError("the bench dataset store is read-only");
  };
  return {
    async headRevision() {
      return REVISION;
    },
    async read(filter: TupleFilter, options: ReadOptions = {}): Promise<ReadResult> {
      if (Object.keys(filter).length > 0) throw new UnavailableError("the bench dataset store only serves full reads");
      const offset = options.pageToken === undefined ? 0 : Number(options.pageToken);
      if (cursor === undefined || cursor.offset !== offset) {
        // A new listing (or a jump): restart the generator and skip to the offset.
        const iterator = source()[Symbol.iterator]();
        for (let i = 0; i < offset; i++) iterator.next();
        cursor = { offset, iterator };
      }
      const size = options.pageSize ?? 1000;
      const tuples: RelationTuple[] = [];
      let done = false;
      while (tuples.length < size) {
        const next = cursor.iterator.next();
        if (next.done === true) {
          done = true;
          break;
        }
        tuples.push(next.value);
      }
      cursor.offset += tuples.length;
      if (done) cursor = undefined;
      return { tuples, nextPageToken: done ? undefined : String(offset + tuples.length), revision: REVISION };
    },
    async *scan(_revision: number, batchSize = 20_000): AsyncIterable<RelationTuple[]> {
      let batch: RelationTuple[] = [];
      for (const tuple of source()) {
        batch.push(tuple);
        if (batch.length >= batchSize) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    },
    async changes(afterRevision: number): Promise<ChangesResult> {
      return { changes: [], untilRevision: Math.max(afterRevision, REVISION), more: false, schemaRevision: REVISION };
    },
    async collectGarbage(): Promise<GarbageCollection> {
      return { horizon: 0, removedVersions: 0 };
    },
    async changelogHorizon(): Promise<number> {
      return 0;
    },
    async readSchema(): Promise<StoredSchema> {
      return { text: schema.text, language: schema.language, revision: REVISION };
    },
    write: async (): Promise<WriteResult> => refuse(),
    deleteByFilter: async (): Promise<DeleteResult> => refuse(),
    writeSchema: async (): Promise<WriteResult> => refuse(),
    async close() {},
  };
}
