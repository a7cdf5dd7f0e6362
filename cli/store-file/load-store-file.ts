/**
 * Loads an OpenFGA CLI store file (`*.fga.yaml`, see openfga/cli docs/STORE_FILE.md) into plain data, with
 * the model in OPL or the OpenFGA DSL. Every structural problem is an `InvalidStoreFileError` carrying the
 * file and the line:column of the offending node.
 */
import { readFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import type { SchemaLanguage } from "../../engine/schema/ir.js";
import { detectSchemaLanguage } from "../../engine/schema/detect-language.js";

/** A problem with a store file: not YAML, wrong shape, missing file. Reported with its position. */
export class InvalidStoreFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
    message: string,
  ) {
    super(`${file}${line === undefined ? "" : `:${line}:${column ?? 1}`}: ${message}`);
    this.name = "InvalidStoreFileError";
  }
}

/** A tuple as store files write it: `user`, `relation`, `object`. */
export interface StoreFileTuple {
  readonly user: string;
  readonly relation: string;
  readonly object: string;
  /** Where the tuple is written (file:line:column), for error messages. */
  readonly where: string;
}

/** One check assertion block: every user × every object × every relation. */
export interface StoreFileCheck {
  readonly users: readonly string[];
  readonly objects: readonly string[];
  readonly assertions: ReadonlyMap<string, boolean>;
  readonly where: string;
}

/** One list_objects block. */
export interface StoreFileListObjects {
  readonly user: string;
  readonly type: string;
  readonly assertions: ReadonlyMap<string, readonly string[]>;
  readonly where: string;
}

/** One list_users block. */
export interface StoreFileListUsers {
  readonly object: string;
  readonly userFilter: readonly { readonly type: string; readonly relation?: string }[];
  readonly assertions: ReadonlyMap<string, readonly string[]>;
  readonly where: string;
}

/** One named test. */
export interface StoreFileTest {
  readonly name: string;
  readonly tuples: readonly StoreFileTuple[];
  readonly check: readonly StoreFileCheck[];
  readonly listObjects: readonly StoreFileListObjects[];
  readonly listUsers: readonly StoreFileListUsers[];
}

/** A loaded store file. */
export interface StoreFile {
  readonly path: string;
  readonly name: string;
  readonly model: string;
  /** Where the model text comes from (the store file or the model file), for diagnostics. */
  readonly modelPath: string;
  /** Lines before the model text in `modelPath` (inline models sit inside the YAML). */
  readonly modelLineOffset: number;
  /** Columns of indentation the YAML block scalar stripped from an inline model. */
  readonly modelColumnOffset: number;
  readonly language: SchemaLanguage;
  readonly tuples: readonly StoreFileTuple[];
  readonly tests: readonly StoreFileTest[];
}

/** Reads and checks the shape of a store file. */
export function loadStoreFile(path: string): StoreFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new InvalidStoreFileError(path, undefined, undefined, `cannot read file: ${(err as Error).message}`);
  }
  return new StoreFileReader(path, text).read();
}

/** Walks the YAML document, turning each node into typed data or an error with its position. */
class StoreFileReader {
  private readonly lines = new LineCounter();
  private readonly dir: string;

  constructor(
    private readonly path: string,
    private readonly text: string,
  ) {
    this.dir = dirname(path);
  }

  read(): StoreFile {
    const doc = parseDocument(this.text, { lineCounter: this.lines, prettyErrors: false });
    const yamlError = doc.errors[0];
    if (yamlError !== undefined) {
      const pos = this.lines.linePos(yamlError.pos[0]);
      throw new InvalidStoreFileError(this.path, pos.line, pos.col, `invalid YAML: ${yamlError.message.split("\n")[0]}`);
    }
    const root = doc.contents;
    if (!isMap(root)) this.fail(root, "a store file must be a YAML mapping");
    this.rejectUnknownKeys(root, ["name", "model", "model_file", "schema_language", "tuples", "tuple_file", "tuple_files", "tests"]);

    const name = this.optionalString(root.get("name", true)) ?? this.path;
    const { model, modelPath, modelLineOffset, modelColumnOffset, languageHint } = this.readModel(root);
    const forced = this.optionalString(root.get("schema_language", true));
    let language: SchemaLanguage;
    if (forced !== undefined) {
      if (forced !== "opl" && forced !== "fga") {
        this.fail(root.get("schema_language", true), `schema_language must be "opl" or "fga", not "${forced}"`);
      }
      language = forced;
    } else {
      language = languageHint ?? detectSchemaLanguage(model);
    }

    const tuples = this.readTupleSources(root);
    const testsNode = root.get("tests", true);
    const tests: StoreFileTest[] = [];
    if (testsNode !== undefined) {
      if (!isSeq(testsNode)) this.fail(testsNode, "tests must be a list");
      for (const item of testsNode.items) tests.push(this.readTest(item as Node));
    }
    return { path: this.path, name, model, modelPath, modelLineOffset, modelColumnOffset, language, tuples, tests };
  }

  private readModel(root: import("yaml").YAMLMap): {
    model: string;
    modelPath: string;
    modelLineOffset: number;
    modelColumnOffset: number;
    languageHint: SchemaLanguage | undefined;
  } {
    const inline = root.get("model", true);
    if (inline !== undefined) {
      const model = this.requireString(inline, "model");
      // A block scalar starts on the line after `model: |`.
      const start = this.where(inline);
      const isBlock = isScalar(inline) && (inline.type === "BLOCK_LITERAL" || inline.type === "BLOCK_FOLDED");
      const lines = this.text.split("\n");
      const firstContent = isBlock ? lines.slice(start.line).find((l) => l.trim() !== "") : undefined;
      return {
        model,
        modelPath: this.path,
        modelLineOffset: start.line + (isBlock ? 1 : 0) - 1,
        modelColumnOffset: firstContent === undefined ? 0 : (/^ */.exec(firstContent)?.[0].length ?? 0),
        languageHint: undefined,
      };
    }
    const fileNode = root.get("model_file", true);
    if (fileNode === undefined) this.fail(root, "the store file needs `model` or `model_file`");
    const file = resolve(this.dir, this.requireString(fileNode, "model_file"));
    let model: string;
    try {
      model = readFileSync(file, "utf8");
    } catch (err) {
      this.fail(fileNode, `cannot read model_file: ${(err as Error).message}`);
    }
    const ext = extname(file);
    const languageHint: SchemaLanguage | undefined = ext === ".fga" || ext === ".mod" ? "fga" : ext === ".ts" || ext === ".opl" ? "opl" : undefined;
    return { model, modelPath: file, modelLineOffset: 0, modelColumnOffset: 0, languageHint };
  }

  private readTupleSources(map: import("yaml").YAMLMap): StoreFileTuple[] {
    const tuples: StoreFileTuple[] = [];
    const inline = map.get("tuples", true);
    if (inline !== undefined) tuples.push(...this.readTupleList(inline, this.path, this));
    const single = map.get("tuple_file", true);
    const files: Node[] = [];
    if (single !== undefined) files.push(single);
    const many = map.get("tuple_files", true);
    if (many !== undefined) {
      if (!isSeq(many)) this.fail(many, "tuple_files must be a list of paths");
      files.push(...(many.items as Node[]));
    }
    for (const node of files) tuples.push(...this.readTupleFile(node));
    return tuples;
  }

  private readTupleFile(node: Node): StoreFileTuple[] {
    const file = resolve(this.dir, this.requireString(node, "tuple_file"));
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      this.fail(node, `cannot read tuple file: ${(err as Error).message}`);
    }
    const ext = extname(file);
    if (ext === ".csv") return readCsvTuples(file, text);
    // YAML is a superset of JSON, so one reader serves .yaml, .yml and .json.
    const reader = new StoreFileReader(file, text);
    const doc = parseDocument(text, { lineCounter: reader.lines });
    const yamlError = doc.errors[0];
    if (yamlError !== undefined) {
      const pos = reader.lines.linePos(yamlError.pos[0]);
      throw new InvalidStoreFileError(file, pos.line, pos.col, `invalid tuple file: ${yamlError.message.split("\n")[0]}`);
    }
    return reader.readTupleList(doc.contents as Node, file, reader);
  }

  private readTupleList(node: Node, file: string, reader: StoreFileReader): StoreFileTuple[] {
    if (!isSeq(node)) reader.fail(node, "tuples must be a list of {user, relation, object}");
    return node.items.map((item) => {
      const n = item as Node;
      if (!isMap(n)) reader.fail(n, "a tuple must be a mapping with user, relation and object");
      reader.rejectUnknownKeys(n, ["user", "relation", "object", "condition"]);
      if (n.get("condition", true) !== undefined) {
        reader.fail(n.get("condition", true), "conditional tuples (`condition`) are not supported yet");
      }
      const pos = reader.where(n);
      return {
        user: reader.requireString(n.get("user", true), "user", n),
        relation: reader.requireString(n.get("relation", true), "relation", n),
        object: reader.requireString(n.get("object", true), "object", n),
        where: `${file}:${pos.line}:${pos.col}`,
      };
    });
  }

  private readTest(node: Node): StoreFileTest {
    if (!isMap(node)) this.fail(node, "a test must be a mapping");
    this.rejectUnknownKeys(node, ["name", "description", "tuples", "tuple_file", "tuple_files", "check", "list_objects", "list_users"]);
    const name = this.requireString(node.get("name", true), "name", node);
    const tuples = this.readTupleSources(node);
    const check = this.listOf(node.get("check", true), "check", (n) => this.readCheck(n));
    const listObjects = this.listOf(node.get("list_objects", true), "list_objects", (n) => this.readListObjects(n));
    const listUsers = this.listOf(node.get("list_users", true), "list_users", (n) => this.readListUsers(n));
    return { name, tuples, check, listObjects, listUsers };
  }

  private readCheck(node: Node): StoreFileCheck {
    if (!isMap(node)) this.fail(node, "a check entry must be a mapping");
    this.rejectUnknownKeys(node, ["user", "users", "object", "objects", "context", "assertions"]);
    this.rejectContext(node);
    const users = this.oneOrMany(node, "user", "users");
    const objects = this.oneOrMany(node, "object", "objects");
    const assertionsNode = node.get("assertions", true);
    if (!isMap(assertionsNode)) this.fail(assertionsNode ?? node, "check needs `assertions: {relation: true|false}`");
    const assertions = new Map<string, boolean>();
    for (const pair of assertionsNode.items) {
      const key = this.requireString(pair.key as Node, "assertion relation");
      const value = pair.value as Node;
      if (!isScalar(value) || typeof value.value !== "boolean") this.fail(value ?? pair.key, `assertion "${key}" must be true or false`);
      assertions.set(key, value.value as boolean);
    }
    return { users, objects, assertions, where: this.whereText(node) };
  }

  private readListObjects(node: Node): StoreFileListObjects {
    if (!isMap(node)) this.fail(node, "a list_objects entry must be a mapping");
    this.rejectUnknownKeys(node, ["user", "type", "context", "assertions"]);
    this.rejectContext(node);
    const user = this.requireString(node.get("user", true), "user", node);
    const type = this.requireString(node.get("type", true), "type", node);
    return { user, type, assertions: this.stringListAssertions(node, false), where: this.whereText(node) };
  }

  private readListUsers(node: Node): StoreFileListUsers {
    if (!isMap(node)) this.fail(node, "a list_users entry must be a mapping");
    this.rejectUnknownKeys(node, ["object", "user_filter", "context", "assertions"]);
    this.rejectContext(node);
    const object = this.requireString(node.get("object", true), "object", node);
    const filterNode = node.get("user_filter", true);
    if (!isSeq(filterNode) || filterNode.items.length === 0) {
      this.fail(filterNode ?? node, "list_users needs `user_filter: [{type: ...}]`");
    }
    const userFilter = filterNode.items.map((item) => {
      const n = item as Node;
      if (!isMap(n)) this.fail(n, "a user_filter entry must be {type, relation?}");
      const type = this.requireString(n.get("type", true), "type", n);
      const relation = this.optionalString(n.get("relation", true));
      return relation === undefined ? { type } : { type, relation };
    });
    return { object, userFilter, assertions: this.stringListAssertions(node, true), where: this.whereText(node) };
  }

  /** `assertions: {relation: [..]}` (list_objects) or `{relation: {users: [..]}}` (list_users). */
  private stringListAssertions(node: import("yaml").YAMLMap, underUsers: boolean): Map<string, string[]> {
    const assertionsNode = node.get("assertions", true);
    if (!isMap(assertionsNode)) this.fail(assertionsNode ?? node, "`assertions` must be a mapping of relation to expected results");
    const out = new Map<string, string[]>();
    for (const pair of assertionsNode.items) {
      const key = this.requireString(pair.key as Node, "assertion relation");
      let value = pair.value as Node | null;
      if (underUsers) {
        if (!isMap(value)) this.fail(value ?? (pair.key as Node), `assertion "${key}" must be {users: [...]}`);
        value = value.get("users", true) as Node | null;
      }
      if (value === null || value === undefined || (isScalar(value) && value.value === null)) {
        out.set(key, []);
        continue;
      }
      if (!isSeq(value)) this.fail(value, `assertion "${key}" must be a list`);
      out.set(key, value.items.map((v) => this.requireString(v as Node, `${key} entry`)));
    }
    return out;
  }

  private rejectContext(node: import("yaml").YAMLMap): void {
    const context = node.get("context", true);
    if (context !== undefined) this.fail(context, "`context` (conditions) is not supported yet");
  }

  private oneOrMany(node: import("yaml").YAMLMap, one: string, many: string): string[] {
    const single = node.get(one, true);
    const list = node.get(many, true);
    if (single !== undefined && list !== undefined) this.fail(list, `use either \`${one}\` or \`${many}\`, not both`);
    if (single !== undefined) return [this.requireString(single, one)];
    if (list === undefined) this.fail(node, `missing \`${one}\``);
    if (!isSeq(list) || list.items.length === 0) this.fail(list, `\`${many}\` must be a non-empty list`);
    return list.items.map((v) => this.requireString(v as Node, many));
  }

  private listOf<T>(node: unknown, what: string, read: (n: Node) => T): T[] {
    if (node === undefined) return [];
    if (!isSeq(node)) this.fail(node as Node, `${what} must be a list`);
    return node.items.map((n) => read(n as Node));
  }

  private rejectUnknownKeys(map: import("yaml").YAMLMap, known: readonly string[]): void {
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : "";
      if (!known.includes(key)) this.fail(pair.key as Node, `unknown key "${key}" (expected one of ${known.join(", ")})`);
    }
  }

  private requireString(node: unknown, what: string, parent?: Node): string {
    if (node === undefined || node === null) this.fail(parent, `missing \`${what}\``);
    if (!isScalar(node) || (typeof node.value !== "string" && typeof node.value !== "number")) {
      this.fail(node as Node, `\`${what}\` must be a string`);
    }
    return String(node.value);
  }

  private optionalString(node: unknown): string | undefined {
    if (node === undefined || node === null) return undefined;
    return this.requireString(node, "value");
  }

  private where(node: Node | null | undefined): { line: number; col: number } {
    const offset = node?.range?.[0];
    if (offset === undefined) return { line: 1, col: 1 };
    return this.lines.linePos(offset);
  }

  private whereText(node: Node): string {
    const pos = this.where(node);
    return `${this.path}:${pos.line}:${pos.col}`;
  }

  fail(node: Node | null | undefined, message: string): never {
    const pos = this.where(node);
    throw new InvalidStoreFileError(this.path, pos.line, pos.col, message);
  }
}

/** CSV tuple files as the OpenFGA CLI writes them: a header naming user_type, user_id, user_relation, relation, object_type, object_id. */
function readCsvTuples(file: string, text: string): StoreFileTuple[] {
  const rows = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = (rows.shift() ?? "").split(",").map((h) => h.trim());
  const col = (name: string): number => header.indexOf(name);
  for (const needed of ["user_type", "user_id", "relation", "object_type", "object_id"]) {
    if (col(needed) < 0) throw new InvalidStoreFileError(file, 1, 1, `CSV header lacks column "${needed}"`);
  }
  return rows.map((row, i) => {
    const cells = row.split(",").map((c) => c.trim());
    const get = (name: string): string => (col(name) < 0 ? "" : (cells[col(name)] ?? ""));
    if (get("condition_name") !== "") {
      throw new InvalidStoreFileError(file, i + 2, 1, "conditional tuples are not supported yet");
    }
    const userRelation = get("user_relation");
    const user = `${get("user_type")}:${get("user_id")}${userRelation === "" ? "" : `#${userRelation}`}`;
    return { user, relation: get("relation"), object: `${get("object_type")}:${get("object_id")}`, where: `${file}:${i + 2}:1` };
  });
}
