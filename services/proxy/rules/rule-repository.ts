/**
 * The gateway's access rules, read from local files and directories (Oathkeeper's
 * `access_rules.repositories` with `file://` sources) and, optionally, hot-reloaded when they change.
 *
 * - A source is a file (read whatever its extension) or a directory: every `*.json`, `*.yaml` and `*.yml`
 *   file below it, recursively (Oathkeeper's directory fetcher walks with `filepath.Walk`), in name order.
 *   Entries whose name starts with `.` are skipped: hidden files, editor swap files and the `..data` /
 *   `..2024_…` folders of Kubernetes ConfigMap mounts (whose visible files are symlinks into them, so reading
 *   both would define every rule twice). Symlinks are followed; a file reached twice is read once.
 * - Rule ids must be unique across every source; the error names both files.
 * - `load()` is the initial load and throws on any problem: a server must not start with a broken rule set.
 * - With `watch: true` every relevant directory is watched (`fs.watch`); changes are debounced and then
 *   everything is re-read. A broken result keeps the last good rule set (logged, and kept in `lastError`);
 *   a good one replaces the set in one step, bumps `reloads`, clears `lastError` and calls `onChange`.
 *   Watching the parent directory of each source survives editors that write a new file and rename it over
 *   the old one, sources that are deleted and re-created, and Kubernetes' atomic `..data` symlink swaps.
 */
import { watch as fsWatch, type FSWatcher } from "node:fs";
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GatehouseError, InvalidArgumentError } from "../../../common/errors.js";
import { describeRule, parseRuleDocument, type KnownHandlers } from "./parse-rules.js";
import type { AccessRule } from "./rule.js";

export interface RuleRepositoryOptions {
  /** Files or directories; a `file://` prefix (or URL) is accepted. Relative paths resolve against the cwd. */
  readonly sources: readonly string[];
  readonly knownHandlers?: KnownHandlers;
  /**
   * Checks a candidate rule set before it replaces the current one (initial load and every reload), e.g. by
   * preparing each rule's handlers; throwing refuses the set (the previous one stays active).
   */
  readonly accept?: (rules: readonly AccessRule[]) => void;
  /** Called with the new rule set after every successful hot reload (not for the initial `load()`). */
  readonly onChange?: (rules: readonly AccessRule[]) => void;
  /** Where reload results, reload failures and warnings go (default: standard error). */
  readonly log?: (line: string) => void;
  /** Watch the sources and reload on change (default false). */
  readonly watch?: boolean;
  /** Quiet time after the last change before reloading (default 100 ms). */
  readonly debounceMillis?: number;
}

export interface RuleRepository {
  /** Reads every source; throws (naming file, rule and field) when anything is invalid. Starts watching. */
  load(): Promise<readonly AccessRule[]>;
  /** The current rule set (replaced as a whole on reload; never partially updated). */
  rules(): readonly AccessRule[];
  get(id: string): AccessRule | undefined;
  /** Stops watching and waits for a reload in progress. */
  close(): Promise<void>;
  /** Successful hot reloads so far. */
  readonly reloads: number;
  /** Why the latest reload failed, while the previous rule set stays active; cleared by a good reload. */
  readonly lastError: string | undefined;
}

const RULE_EXTENSIONS = new Set([".json", ".yaml", ".yml"]);

interface Snapshot {
  readonly rules: readonly AccessRule[];
  readonly byId: ReadonlyMap<string, AccessRule>;
}

/** What a watched directory is watched for: any entry, or only some names. */
interface Interest {
  all: boolean;
  readonly names: Set<string>;
}

interface RuleFile {
  readonly path: string;
  /** Named as a source itself (then it must exist); otherwise found in a directory. */
  readonly explicit: boolean;
}

interface Scan {
  readonly files: readonly RuleFile[];
  readonly dirs: ReadonlyMap<string, Interest>;
  readonly problems: readonly Error[];
}

type ReadResult = { ok: true; snapshot: Snapshot; files: number } | { ok: false; problems: readonly Error[] };

const EMPTY: Snapshot = { rules: Object.freeze([]), byId: new Map() };

export function createRuleRepository(options: RuleRepositoryOptions): RuleRepository {
  const sources = options.sources.map(resolveSource);
  const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const debounce = options.debounceMillis ?? 100;

  let current: Snapshot = EMPTY;
  let reloads = 0;
  let lastError: string | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  const watchers = new Map<string, { watcher: FSWatcher; interest: Interest }>();

  async function read(): Promise<ReadResult> {
    const scan = await scanSources(sources);
    if (options.watch === true && !closed) reconcileWatchers(scan.dirs);
    const problems: Error[] = [...scan.problems];
    const rules: AccessRule[] = [];
    const origin = new Map<string, { file: string; index: number }>();
    for (const file of scan.files) {
      let text: string;
      try {
        text = await readFile(file.path, "utf8");
      } catch (error) {
        if (!file.explicit && errnoCode(error) === "ENOENT") continue; // deleted while we were reading
        problems.push(sourceError(file.path, error));
        continue;
      }
      let parsed: AccessRule[];
      try {
        parsed = parseRuleDocument(text, file.path, {
          ...(options.knownHandlers === undefined ? {} : { knownHandlers: options.knownHandlers }),
          onWarning: (message) => log(`access rules: warning: ${message}`),
        });
      } catch (error) {
        problems.push(error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      parsed.forEach((rule, index) => {
        const first = origin.get(rule.id);
        if (first !== undefined) {
          problems.push(
            new InvalidArgumentError(
              `${describeRule(file.path, rule.id, index)}: id: duplicate id, also defined in ${first.file} (index ${first.index})`,
              { details: { field: "id", file: file.path, ruleId: rule.id, ruleIndex: index, otherFile: first.file } },
            ),
          );
          return;
        }
        origin.set(rule.id, { file: file.path, index });
        rules.push(rule);
      });
    }
    if (problems.length > 0) return { ok: false, problems };
    const frozen = Object.freeze(rules);
    if (options.accept !== undefined) {
      try {
        options.accept(frozen);
      } catch (error) {
        return { ok: false, problems: [error instanceof Error ? error : new Error(String(error))] };
      }
    }
    return { ok: true, snapshot: { rules: frozen, byId: new Map(frozen.map((r) => [r.id, r])) }, files: scan.files.length };
  }

  function reconcileWatchers(desired: ReadonlyMap<string, Interest>): void {
    for (const [dir, entry] of watchers) {
      if (!desired.has(dir)) {
        entry.watcher.close();
        watchers.delete(dir);
      }
    }
    for (const [dir, interest] of desired) {
      const existing = watchers.get(dir);
      if (existing !== undefined) {
        existing.interest = interest;
        continue;
      }
      let watcher: FSWatcher;
      try {
        watcher = fsWatch(dir, { persistent: false }, (_event, filename) => onEvent(dir, filename));
      } catch (error) {
        // A missing parent folder: nothing to watch there; the next reload tries again.
        if (errnoCode(error) !== "ENOENT") log(`access rules: cannot watch ${dir}: ${messageOf(error)}`);
        continue;
      }
      watcher.on("error", () => {
        // e.g. the folder was deleted; drop the watcher and let a reload re-establish what still exists
        watcher.close();
        if (watchers.get(dir)?.watcher === watcher) watchers.delete(dir);
        schedule();
      });
      watchers.set(dir, { watcher, interest });
    }
  }

  function closeWatchers(): void {
    for (const entry of watchers.values()) entry.watcher.close();
    watchers.clear();
  }

  function onEvent(dir: string, filename: string | Buffer | null): void {
    const entry = watchers.get(dir);
    if (entry === undefined) return;
    const name = filename === null ? null : filename.toString();
    if (name === null || name.startsWith("..") || entry.interest.names.has(name)) {
      schedule();
      return;
    }
    if (!entry.interest.all || name.startsWith(".")) return;
    const ext = extname(name).toLowerCase();
    // rule files, and extension-less names (possibly a new sub-folder); ignore README.md, backups and such
    if (ext === "" || RULE_EXTENSIONS.has(ext)) schedule();
  }

  function schedule(): void {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(fire, debounce);
    timer.unref();
  }

  function fire(): void {
    timer = undefined;
    if (closed) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    running = reload().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        schedule();
      }
    });
  }

  async function reload(): Promise<void> {
    let result: ReadResult;
    try {
      result = await read();
    } catch (error) {
      result = { ok: false, problems: [error instanceof Error ? error : new Error(String(error))] };
    }
    if (closed) return;
    if (!result.ok) {
      lastError = result.problems.map((p) => p.message).join("\n");
      log(`access rules: reload failed, keeping the previous ${current.rules.length} rules: ${lastError}`);
      return;
    }
    current = result.snapshot;
    reloads++;
    lastError = undefined;
    log(`access rules: reloaded ${current.rules.length} rules from ${result.files} files`);
    try {
      options.onChange?.(current.rules);
    } catch (error) {
      log(`access rules: onChange failed: ${messageOf(error)}`);
    }
  }

  return {
    async load() {
      const result = await read();
      if (!result.ok) {
        closeWatchers();
        throw combine(result.problems);
      }
      current = result.snapshot;
      lastError = undefined;
      return current.rules;
    },
    rules: () => current.rules,
    get: (id) => current.byId.get(id),
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      closeWatchers();
      await running;
    },
    get reloads() {
      return reloads;
    },
    get lastError() {
      return lastError;
    },
  };
}

/** `file:///abs`, `file://relative` or a plain path -> an absolute path. Remote schemes are refused. */
function resolveSource(raw: string): string {
  if (raw.startsWith("file://")) {
    if (raw.startsWith("file:///") || raw.startsWith("file://localhost/")) return fileURLToPath(raw);
    return resolve(raw.slice("file://".length));
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    throw new InvalidArgumentError(
      `access rule source ${raw}: only local files and directories are supported (a path or file://…)`,
      { details: { field: "sources" } },
    );
  }
  return resolve(raw);
}

async function scanSources(sources: readonly string[]): Promise<Scan> {
  const files: RuleFile[] = [];
  const dirs = new Map<string, Interest>();
  const problems: Error[] = [];
  const seenFiles = new Set<string>();

  const want = (dir: string, name?: string): void => {
    let interest = dirs.get(dir);
    if (interest === undefined) {
      interest = { all: false, names: new Set() };
      dirs.set(dir, interest);
    }
    if (name === undefined) interest.all = true;
    else interest.names.add(name);
  };
  const addFile = async (path: string, explicit: boolean): Promise<void> => {
    const real = await realpath(path).catch(() => path);
    if (seenFiles.has(real)) return;
    seenFiles.add(real);
    files.push({ path, explicit });
  };
  const walk = async (dir: string, ancestors: ReadonlySet<string>): Promise<void> => {
    const real = await realpath(dir).catch(() => dir);
    if (ancestors.has(real)) return; // a symlink loop
    const inside = new Set(ancestors).add(real);
    want(dir);
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") problems.push(sourceError(dir, error));
      return;
    }
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const path = join(dir, name);
      let info;
      try {
        info = await stat(path);
      } catch {
        continue; // vanished, or a dangling symlink
      }
      if (info.isDirectory()) await walk(path, inside);
      else if (info.isFile() && RULE_EXTENSIONS.has(extname(name).toLowerCase())) await addFile(path, false);
    }
  };

  for (const source of sources) {
    want(dirname(source), basename(source));
    let info;
    try {
      info = await stat(source);
    } catch (error) {
      problems.push(sourceError(source, error));
      continue;
    }
    if (info.isDirectory()) await walk(source, new Set());
    else if (info.isFile()) await addFile(source, true);
    else problems.push(new InvalidArgumentError(`${source}: not a file or directory`, { details: { field: "sources", file: source } }));
  }
  return { files, dirs, problems };
}

function sourceError(path: string, error: unknown): InvalidArgumentError {
  const code = errnoCode(error);
  const reason = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "permission denied" : `cannot be read (${messageOf(error)})`;
  return new InvalidArgumentError(`${path}: ${reason}`, { details: { field: "sources", file: path }, cause: error });
}

/** The first problem, with the others appended to its message. */
function combine(problems: readonly Error[]): Error {
  const [first, ...rest] = problems;
  if (first === undefined) return new Error("access rules: unknown error");
  if (rest.length === 0) return first;
  const message = `${first.message} (and ${rest.length} more: ${rest.map((p) => p.message).join("; ")})`;
  if (first instanceof GatehouseError) return new InvalidArgumentError(message, { details: first.details, cause: first });
  return new InvalidArgumentError(message, { cause: first });
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
