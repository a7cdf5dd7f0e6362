/**
 * Reads tuples from files and folders for `tuples create -f` / `tuples delete -f`.
 *
 * - `.json`, `.yaml`, `.yml`: an array of tuples (text lines, Keto-shaped or OpenFGA-shaped objects), or an
 *   object whose `relation_tuples` (Keto's list response, so `tuples list --json` output reads back) or
 *   `tuples` holds that array.
 * - any other file: one tuple per line in Keto's text form; blank lines and lines starting with `#` or `//`
 *   are skipped (a tuple never starts with `#`: its namespace is not empty).
 * - a folder: every `.json`, `.yaml` and `.yml` file directly in it, in name order.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { Relationship } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { UsageError } from "./errors.js";
import { relationshipFromEntry, relationshipFromText } from "./tuples.js";

const structuredExtensions = new Set([".json", ".yaml", ".yml"]);

function entriesOf(document: unknown, path: string): unknown[] {
  if (Array.isArray(document)) return document;
  if (document === null || document === undefined) return [];
  if (typeof document === "object") {
    for (const key of ["relation_tuples", "tuples"]) {
      const list = (document as Record<string, unknown>)[key];
      if (Array.isArray(list)) return list;
    }
  }
  throw new UsageError(`${path}: expected an array of tuples (or an object with "relation_tuples" or "tuples")`);
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The relationships of one file. */
export function readTupleFile(path: string): Relationship[] {
  const text = readText(path);
  const ext = extname(path).toLowerCase();
  if (!structuredExtensions.has(ext)) {
    const out: Relationship[] = [];
    text.split(/\r?\n/).forEach((line, i) => {
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith("//")) return;
      out.push(relationshipFromText(trimmed, `${path}:${i + 1}`));
    });
    return out;
  }
  let document: unknown;
  try {
    document = ext === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new UsageError(`${path}: not valid ${ext === ".json" ? "JSON" : "YAML"}: ${(err as Error).message}`);
  }
  return entriesOf(document, path).map((entry, i) => relationshipFromEntry(entry, `${path}[${i}]`));
}

/** The relationships of files and folders, in argument order (a folder's files in name order). */
export function readTupleSources(paths: readonly string[]): Relationship[] {
  const out: Relationship[] = [];
  for (const path of paths) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch (err) {
      throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
    }
    if (!isDirectory) {
      out.push(...readTupleFile(path));
      continue;
    }
    const files = readdirSync(path, { withFileTypes: true })
      .filter((e) => e.isFile() && structuredExtensions.has(extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort();
    if (files.length === 0) throw new UsageError(`${path}: the folder has no .json, .yaml or .yml files`);
    for (const name of files) out.push(...readTupleFile(join(path, name)));
  }
  return out;
}
