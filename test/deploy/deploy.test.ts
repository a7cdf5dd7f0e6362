/**
 * The deployment files under deploy/ (Dockerfile, compose, Envoy, Kubernetes/kustomize) against the code
 * they deploy: ports from `defaultConfig()`, GATEHOUSE_* variables from `describeConfigKeys()`, commands the
 * CLI really runs, health and metrics paths the planes really serve, and the files the image needs at run
 * time. No image is built and no cluster is needed; `kubectl kustomize` runs when kubectl is on the PATH.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, normalize, relative, resolve } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { defaultConfig, describeConfigKeys, loadConfig, loopbackConfig } from "../../cli/config/config.js";
import { metricsPaths } from "../../gateways/observability/metrics-endpoint.js";
import { createHealthRestHandler } from "../../gateways/server/health-rest.js";
import { CheckRequestSchema, CheckResponseSchema, type CheckRequest, type CheckResponse } from "../../proto/gen/envoy/service/auth/v3/external_auth_pb.js";

// Parsed YAML is untyped by nature; the assertions below check its shape.
type Y = any;

const root = resolve(new URL("../../", import.meta.url).pathname);
const deployDir = join(root, "deploy");
const baseDir = join(deployDir, "kubernetes/base");
const overlayDir = join(deployDir, "kubernetes/overlays/production");

const defaults = defaultConfig();
const planePorts: Record<"read" | "write" | "opl", number> = {
  read: defaults.serve.read.port,
  write: defaults.serve.write.port,
  opl: defaults.serve.opl.port,
};
const allPlanePorts = Object.values(planePorts).sort();
/** Every port `gatehouse serve` listens on by default (the image exposes them all). */
const allServePorts = [
  ...allPlanePorts,
  defaults.serve.identityPublic.port,
  defaults.serve.identityAdmin.port,
  defaults.serve.oauth2Public.port,
  defaults.serve.oauth2Admin.port,
  defaults.serve.proxy.port,
  defaults.serve.proxyApi.port,
].sort();
/** The identity service's planes (Kratos's public and admin ports). */
const identityPorts: Record<"public" | "admin", number> = {
  public: defaults.serve.identityPublic.port,
  admin: defaults.serve.identityAdmin.port,
};
/** The OAuth2 service's planes (Hydra's public and admin ports). */
const oauth2Ports: Record<"public" | "admin", number> = {
  public: defaults.serve.oauth2Public.port,
  admin: defaults.serve.oauth2Admin.port,
};
/** The gateway's planes (Oathkeeper's reverse proxy and API ports). */
const proxyPorts: Record<"proxy" | "api", number> = {
  proxy: defaults.serve.proxy.port,
  api: defaults.serve.proxyApi.port,
};
/**
 * The planes that speak HTTP/1.1 only (no gRPC server behind them): the identity and OAuth2 REST planes and
 * the gateway's reverse proxy (a node:http server).
 */
const http1OnlyPorts = [...Object.values(identityPorts), ...Object.values(oauth2Ports), proxyPorts.proxy].sort();
/**
 * Never published beyond the host's loopback: the admin planes, and the gateway's API (its /decisions believe
 * X-Forwarded-* from private addresses, a front proxy's included).
 */
const internalPorts = [identityPorts.admin, oauth2Ports.admin, proxyPorts.api];
/** The Deployment's container ports by name (names are at most 15 characters in Kubernetes). */
const namedServePorts: Record<string, number> = {
  ...planePorts,
  "identity-public": identityPorts.public,
  "identity-admin": identityPorts.admin,
  "oauth2-public": oauth2Ports.public,
  "oauth2-admin": oauth2Ports.admin,
  proxy: proxyPorts.proxy,
  "proxy-api": proxyPorts.api,
};

// ---------------------------------------------------------------------------------------------- helpers

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

const deployFiles = walk(deployDir);
const yamlFiles = deployFiles.filter((f) => /\.ya?ml$/.test(f));

/** Every document of a YAML file, as plain JS; merge keys (`<<`) resolved as Compose does. */
function loadYaml(path: string): Y[] {
  return parseAllDocuments(readFileSync(path, "utf8"), { merge: true })
    .map((d) => d.toJS({ maxAliasCount: 100 }) as Y)
    .filter((d) => d !== null && d !== undefined);
}

function loadOne(path: string): Y {
  return parse(readFileSync(path, "utf8"), { merge: true }) as Y;
}

interface K8sObject {
  file: string;
  obj: Y;
}

/** The resources a kustomization lists (files only; directories are other kustomizations). */
function kustomizationResources(dir: string): K8sObject[] {
  const k = loadOne(join(dir, "kustomization.yaml"));
  const out: K8sObject[] = [];
  for (const r of k.resources as string[]) {
    const path = join(dir, r);
    if (statSync(path).isDirectory()) continue;
    for (const obj of loadYaml(path)) out.push({ file: path, obj });
  }
  return out;
}

const base = kustomizationResources(baseDir);
function baseObject(kind: string, name: string): Y {
  const found = base.filter((r) => r.obj.kind === kind && r.obj.metadata?.name === name);
  if (found.length !== 1) throw new Error(`the base has ${found.length} ${kind}/${name}, expected 1`);
  return found[0]!.obj;
}
function baseObjects(kind: string): Y[] {
  return base.filter((r) => r.obj.kind === kind).map((r) => r.obj);
}

/** A Kubernetes label selector's `matchLabels` (or a Service's plain selector) against pod labels. */
function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** CPU in cores, memory in bytes. */
function quantity(value: string | number): number {
  const text = String(value);
  const m = /^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(text);
  if (m === null) throw new Error(`not a quantity: ${text}`);
  const n = Number(m[1]);
  const unit = m[2] ?? "";
  const factor: Record<string, number> = {
    "": 1,
    m: 1e-3,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return n * factor[unit]!;
}

function expectResources(resources: Y, where: string): void {
  for (const r of ["cpu", "memory"]) {
    expect(resources?.requests?.[r], `${where}: requests.${r}`).toBeDefined();
    expect(resources?.limits?.[r], `${where}: limits.${r}`).toBeDefined();
    expect(quantity(resources.requests[r]), `${where}: ${r} request <= limit`).toBeLessThanOrEqual(
      quantity(resources.limits[r]),
    );
  }
}

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

// Generous: `serve --help` loads every service's modules (oidc-provider included), slow on a busy machine.
function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  return new Promise((resolvePromise) => {
    execFile(file, args, { cwd: options.cwd ?? root, env: options.env ?? process.env, timeout: 25_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Calls the planes' health handler (the one every plane serves) with minimal request/response stand-ins. */
async function healthStatus(path: string, ready: boolean): Promise<number | undefined> {
  const handler = createHealthRestHandler({
    version: "0.0.0-test",
    readiness: () => (ready ? {} : { store: "unreachable" }),
  });
  const req = { method: "GET", url: path, headers: {} };
  let status: number | undefined;
  const res = {
    req,
    writeHead(code: number) {
      status = code;
      return res;
    },
    end() {
      return res;
    },
  };
  const handled = await handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  return handled ? status : undefined;
}

/** A readiness path: 200 when ready, 503 when a readiness check fails. */
async function expectReadinessPath(path: string): Promise<void> {
  expect(await healthStatus(path, true), `${path} when ready`).toBe(200);
  expect(await healthStatus(path, false), `${path} when not ready`).toBe(503);
}

/** A liveness path: 200 even while readiness fails (a database outage must not restart the process). */
async function expectLivenessPath(path: string): Promise<void> {
  expect(await healthStatus(path, true), `${path} when ready`).toBe(200);
  expect(await healthStatus(path, false), `${path} when not ready`).toBe(200);
}

// -------------------------------------------------------------------------------------------- Dockerfile

interface Instruction {
  op: string;
  args: string;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const m = /^(\S+)\s*(.*)$/.exec(full);
    if (m !== null) out.push({ op: m[1]!.toUpperCase(), args: m[2]! });
  }
  return out;
}

const dockerfilePath = join(deployDir, "Dockerfile");
const dockerfile = dockerInstructions(readFileSync(dockerfilePath, "utf8"));

/** Global ARG defaults (before the first FROM) substituted into FROM lines. */
function substituteArgs(text: string): string {
  const args = new Map<string, string>();
  for (const i of dockerfile) {
    if (i.op === "FROM") break;
    if (i.op === "ARG") {
      const [name, value] = i.args.split("=", 2);
      if (name !== undefined && value !== undefined) args.set(name.trim(), value.trim());
    }
  }
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => args.get(a ?? b ?? "") ?? "");
}

/** The stages: each FROM and the instructions up to the next. */
function dockerStages(): { from: string; name: string | undefined; body: Instruction[] }[] {
  const stages: { from: string; name: string | undefined; body: Instruction[] }[] = [];
  for (const i of dockerfile) {
    if (i.op === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      expect(m, `FROM ${i.args}`).not.toBeNull();
      stages.push({ from: substituteArgs(m![1]!), name: m![2], body: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.body.push(i);
    }
  }
  return stages;
}

function jsonArray(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  expect(Array.isArray(parsed)).toBe(true);
  return parsed as string[];
}

/** The paths the final stage copies from the build context (not from another stage). */
function copiedSources(): string[] {
  const final = dockerStages().at(-1)!;
  return final.body
    .filter((i) => i.op === "COPY" && !/--from=/.test(i.args))
    .flatMap((i) => {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith("--"));
      return words.slice(0, -1).map((w) => normalize(w).replace(/\/$/, ""));
    });
}

/** A .dockerignore, with Docker's semantics: the last matching pattern wins, `!` re-includes. */
function dockerIgnore(text: string): (path: string) => boolean {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const negated = l.startsWith("!");
      const pattern = (negated ? l.slice(1) : l).replace(/^\/+/, "").replace(/\/+$/, "");
      let re = "";
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i]!;
        if (c === "*" && pattern[i + 1] === "*") {
          if (pattern[i + 2] === "/") {
            re += "(?:.*/)?";
            i += 2;
          } else {
            re += ".*";
            i += 1;
          }
        } else if (c === "*") re += "[^/]*";
        else if (c === "?") re += "[^/]";
        else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
      }
      return { negated, regex: new RegExp(`^${re}$`) };
    });
  return (path) => {
    const parts = path.split("/");
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.regex.test(p))) excluded = !rule.negated;
    }
    return excluded;
  };
}

const SPECIFIER =
  /^\s*(?:import|export)\s+(type\s+)?(?:[^;'"]*?\s*from\s*)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)|new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/gm;

/** Files and packages `node bin/gatehouse.js` can load, following relative imports from the entry point. */
function runtimeClosure(): { files: Set<string>; packages: Set<string>; missing: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const missing: string[] = [];
  const queue = ["bin/gatehouse.js"];
  while (queue.length > 0) {
    const rel = queue.pop()!;
    if (files.has(rel)) continue;
    files.add(rel);
    if (!/\.(ts|js|mjs)$/.test(rel)) continue;
    const text = readFileSync(join(root, rel), "utf8");
    for (const m of text.matchAll(SPECIFIER)) {
      if (m[1] !== undefined) continue; // `import type` is erased
      const spec = m[2] ?? m[3] ?? m[4]!;
      if (spec.startsWith("node:")) continue;
      if (!spec.startsWith(".")) {
        const parts = spec.split("/");
        packages.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!);
        continue;
      }
      const target = normalize(join(dirname(rel), spec));
      const candidates = [target, target.replace(/\.js$/, ".ts")];
      const found = candidates.find((c) => existsSync(join(root, c)) && statSync(join(root, c)).isFile());
      if (found === undefined) missing.push(`${rel} -> ${spec}`);
      else queue.push(found);
    }
  }
  return { files, packages, missing };
}

// ---------------------------------------------------------------------------------------------- compose

const compose = loadOne(join(deployDir, "docker-compose.yaml"));
const services: Record<string, Y> = compose.services;
const gatehouseServices = Object.entries(services).filter(([, s]) => s.build?.dockerfile === "deploy/Dockerfile");
const gatehouseImage: string = services.migrate?.image;

/**
 * Compose's variable interpolation of one value: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}` (no nesting), against the host's variables.
 */
function interpolate(text: string, host: Record<string, string | undefined>): string {
  return text.replace(/\$\$|\$\{(\w+)(?:(:?)([-?+])([^}]*))?\}|\$(\w+)/g, (whole, name?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
    if (whole === "$$") return "$";
    if (bare !== undefined) return host[bare] ?? "";
    const value = host[name!];
    const set = colon === ":" ? value !== undefined && value !== "" : value !== undefined;
    if (op === "-") return set ? value! : arg!;
    if (op === "?") {
      if (!set) throw new Error(`compose: required variable ${name} is missing: ${arg}`);
      return value!;
    }
    if (op === "+") return set ? arg! : "";
    return value ?? "";
  });
}

/**
 * A service's environment after interpolation against the host's variables (by default none: a fresh
 * `docker compose up`); `host: null` gives the values as written.
 */
function envOf(service: Y, host: Record<string, string | undefined> | null = {}): Record<string, string> {
  const env = service.environment ?? {};
  const entries: [string, string][] = Array.isArray(env)
    ? env.map((e: string) => {
        const at = e.indexOf("=");
        return [e.slice(0, at), e.slice(at + 1)];
      })
    : Object.entries(env).map(([k, v]) => [k, String(v)]);
  return Object.fromEntries(entries.map(([k, v]) => [k, host === null ? v : interpolate(v, host)]));
}

/** The container side of a published port ("4466:4466", "127.0.0.1:9901:9901"). */
function containerPort(mapping: string | number): number {
  return Number(String(mapping).split(":").at(-1)!.split("/")[0]);
}

/** The host address a published port binds ("127.0.0.1:9901:9901" → 127.0.0.1; all interfaces → undefined). */
function hostAddress(mapping: string | number): string | undefined {
  const parts = String(mapping).split(":");
  return parts.length === 3 ? parts[0] : undefined;
}

/** The host side of a published port ("4466:4466" → 4466, "127.0.0.1:9901:9901" → 9901). */
function hostPort(mapping: string | number): number {
  const parts = String(mapping).split(":");
  return Number(parts.length === 1 ? parts[0]!.split("/")[0] : parts.at(-2));
}

// -------------------------------------------------------------------------------------------------- envoy

const envoy = loadOne(join(deployDir, "envoy/envoy.yaml"));

function envoyHcm(listener: Y): Y {
  return listener.filter_chains[0].filters.find((f: Y) => f.name === "envoy.filters.network.http_connection_manager")
    .typed_config;
}

function envoyRouteClusters(listener: Y): string[] {
  return envoyHcm(listener).route_config.virtual_hosts.flatMap((vh: Y) =>
    vh.routes.filter((r: Y) => r.route?.cluster !== undefined).map((r: Y) => r.route.cluster as string),
  );
}

/** The listener on an Envoy port. */
function envoyListener(port: number): Y {
  return envoy.static_resources.listeners.find((l: Y) => l.address.socket_address.port_value === port);
}

/** The node ports Envoy's listener on `port` sends requests to (its routes' clusters' endpoints). */
function envoyUpstreamPorts(port: number): number[] {
  const listener = envoyListener(port);
  if (listener === undefined) return [];
  const ports = envoyRouteClusters(listener).flatMap((name) =>
    envoy.static_resources.clusters
      .filter((c: Y) => c.name === name)
      .flatMap((c: Y) => c.load_assignment.endpoints.flatMap((e: Y) => e.lb_endpoints.map((l: Y) => l.endpoint.address.socket_address.port_value as number))),
  );
  return [...new Set(ports)];
}

/**
 * Which node port a URL on the compose host reaches: the URL's port, published by the compose Envoy, to an
 * Envoy listener, whose routes lead to the nodes' port. Undefined when the chain breaks anywhere.
 */
function composePlanePortOf(url: string): number | undefined {
  const u = new URL(url);
  if (!["127.0.0.1", "localhost"].includes(u.hostname)) return undefined;
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const mapping = (services.envoy.ports as string[]).find((m) => hostPort(m) === port);
  if (mapping === undefined) return undefined;
  const upstream = envoyUpstreamPorts(containerPort(mapping));
  return upstream.length === 1 ? upstream[0] : undefined;
}

/** Every header name a config removes (`*headers_to_remove` lists, at any depth), lower-cased. */
function removedHeaders(node: Y): string[] {
  if (Array.isArray(node)) return node.flatMap(removedHeaders);
  if (node === null || typeof node !== "object") return [];
  return Object.entries(node).flatMap(([k, v]) =>
    k.endsWith("headers_to_remove") && Array.isArray(v) ? v.map((h) => String(h).toLowerCase()) : removedHeaders(v),
  );
}

// ------------------------------------------------------------------------------------------ the server

/** The example access rules the Deployment mounts (a ConfigMap of rule files). */
const accessRules = baseObject("ConfigMap", "gatehouse-access-rules");

/**
 * Writes a ConfigMap's files the way the kubelet mounts them: the files in a timestamped folder, `..data`
 * linking to it, and each visible name a symlink into `..data`.
 */
function mountConfigMap(data: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-rules-"));
  const stamp = "..2024_01_01_00_00_00.000000000";
  mkdirSync(join(dir, stamp));
  for (const [name, text] of Object.entries(data)) writeFileSync(join(dir, stamp, name), text);
  symlinkSync(stamp, join(dir, "..data"));
  for (const name of Object.keys(data)) symlinkSync(join("..data", name), join(dir, name));
  return dir;
}

let server: RunningServer | undefined;
let rulesDir: string | undefined;
beforeAll(async () => {
  // The running server loads the example access rules, as mounted in the pods.
  rulesDir = mountConfigMap(accessRules.data);
  const config = loopbackConfig();
  config.proxy.ruleSources = [rulesDir];
  config.proxy.watchRules = false;
  server = await startServer(config, () => {});
});
afterAll(async () => {
  await server?.stop();
  if (rulesDir !== undefined) rmSync(rulesDir, { recursive: true, force: true });
});

/** The bound port of the plane whose default port is `port` (identity, OAuth2 and gateway planes included). */
function livePort(port: number): number {
  if (port === identityPorts.public) return server!.identity.ports.public;
  if (port === identityPorts.admin) return server!.identity.ports.admin;
  if (port === oauth2Ports.public) return server!.oauth2.ports.public;
  if (port === oauth2Ports.admin) return server!.oauth2.ports.admin;
  if (port === proxyPorts.proxy) return server!.proxy.ports.proxy;
  if (port === proxyPorts.api) return server!.proxy.ports.api;
  const plane = (Object.keys(planePorts) as ("read" | "write" | "opl")[]).find((p) => planePorts[p] === port);
  expect(plane, `a plane listens on ${port} by default`).toBeDefined();
  return server!.planes.ports[plane!];
}

// ================================================================================================= tests

describe("deploy/ files", () => {
  it("every YAML file parses without errors or warnings", () => {
    const names = yamlFiles.map((f) => relative(deployDir, f));
    for (const expected of ["docker-compose.yaml", "envoy/envoy.yaml", "kubernetes/base/kustomization.yaml", "kubernetes/overlays/production/kustomization.yaml"]) {
      expect(names).toContain(expected);
    }
    for (const file of yamlFiles) {
      const docs = parseAllDocuments(readFileSync(file, "utf8"), { merge: true });
      expect(docs.length, file).toBeGreaterThan(0);
      for (const doc of docs) {
        expect(doc.errors.map((e) => e.message), file).toEqual([]);
        expect(doc.warnings.map((e) => e.message), file).toEqual([]);
      }
    }
  });

  it("every GATEHOUSE_* variable is one the code reads", () => {
    const known = new Set(describeConfigKeys().map((k) => k.env));
    // Variables the commands read directly, outside the config keys (GATEHOUSE_CONFIG, GATEHOUSE_DATABASE_URL, …).
    for (const cmd of ["serve", "migrate"]) {
      const source = readFileSync(join(root, `cli/commands/${cmd}.ts`), "utf8");
      for (const m of source.matchAll(/process\.env\.(GATEHOUSE_[A-Z0-9_]+)/g)) known.add(m[1]!);
    }
    const used = new Set<string>();
    for (const file of deployFiles) {
      for (const m of readFileSync(file, "utf8").matchAll(/GATEHOUSE_[A-Z0-9_]*[A-Z0-9]/g)) used.add(m[0]);
    }
    expect(used.size).toBeGreaterThan(3);
    expect([...used].filter((v) => !known.has(v))).toEqual([]);
  });

  it("every gatehouse sub-command the files run is a real command", async () => {
    const referenced = new Set<string>();
    const cmd = dockerfile.filter((i) => i.op === "CMD").at(-1);
    referenced.add(jsonArray(cmd!.args)[0]!);
    for (const [, s] of gatehouseServices) {
      const command: string[] = Array.isArray(s.command) ? s.command : String(s.command ?? "serve").split(/\s+/);
      referenced.add(command[0]!);
    }
    for (const obj of [...baseObjects("Deployment"), ...baseObjects("Job")]) {
      for (const c of obj.spec.template.spec.containers) {
        const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])];
        referenced.add(argv[0]!);
      }
    }
    expect([...referenced].sort()).toEqual(["migrate", "serve"]);

    const bin = join(root, "bin/gatehouse.js");
    const cwd = mkdtempSync(join(tmpdir(), "gatehouse-deploy-"));
    try {
      const env = { ...process.env };
      delete env.GATEHOUSE_DSN;
      delete env.GATEHOUSE_CONFIG;
      const [serveHelp, migrateHelp] = await Promise.all([
        run(process.execPath, [bin, "serve", "--help"], { cwd, env }),
        run(process.execPath, [bin, "migrate", "--help"], { cwd, env }),
      ]);
      expect(serveHelp.code, serveHelp.stderr).toBe(0);
      expect(serveHelp.stdout).toContain("Usage: gatehouse serve");
      expect(migrateHelp.code, migrateHelp.stderr).toBe(0);
      expect(migrateHelp.stdout).toContain("Usage: gatehouse migrate");
      // And run it the way the deployments do (URL in GATEHOUSE_DATABASE_URL) against a closed port: it must
      // reach for PostgreSQL and fail there (exit 1), not fall back to the embedded store.
      const migrated = await run(process.execPath, [bin, "migrate"], {
        cwd,
        env: { ...env, GATEHOUSE_DATABASE_URL: "postgres://gatehouse@127.0.0.1:1/gatehouse" },
      });
      expect(migrated.stderr).toMatch(/^gatehouse migrate: PostgreSQL at 127\.0\.0\.1:1\/gatehouse is unavailable/);
      expect(migrated.code).toBe(1);
      expect(existsSync(join(cwd, ".gatehouse"))).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 90_000);
});

describe("deploy/Dockerfile", () => {
  it("is multi-stage on node:20-bookworm-slim and installs production dependencies only", () => {
    const stages = dockerStages();
    expect(stages.length).toBeGreaterThan(1);
    for (const s of stages) expect(s.from).toBe("node:20-bookworm-slim");
    const installs = dockerfile.filter((i) => i.op === "RUN" && /\bnpm\s+(ci|install|i)\b/.test(i.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const i of installs) {
      expect(i.args).toMatch(/\bnpm ci\b/);
      expect(i.args).toContain("--omit=dev");
      // package.json's allowScripts allows no install script.
      expect(i.args).toContain("--ignore-scripts");
    }
    const final = stages.at(-1)!;
    expect(final.body.some((i) => i.op === "RUN" && /\bnpm\b/.test(i.args))).toBe(false);
    const depsStage = stages[0]!.name;
    expect(
      final.body.some((i) => i.op === "COPY" && i.args.includes(`--from=${depsStage}`) && i.args.includes("node_modules")),
    ).toBe(true);
  });

  it("runs as a non-root user, exposes the default ports and starts `gatehouse serve`", () => {
    const final = dockerStages().at(-1)!;
    const user = final.body.filter((i) => i.op === "USER").at(-1);
    expect(user).toBeDefined();
    expect(user!.args.split(":")[0]).not.toMatch(/^(root|0)$/);
    const exposed = dockerfile
      .filter((i) => i.op === "EXPOSE")
      .flatMap((i) => i.args.split(/\s+/).map((p) => Number(p.split("/")[0])));
    expect(exposed.sort()).toEqual(allServePorts);
    expect(jsonArray(dockerfile.filter((i) => i.op === "ENTRYPOINT").at(-1)!.args)).toEqual(["node", "bin/gatehouse.js"]);
    expect(jsonArray(dockerfile.filter((i) => i.op === "CMD").at(-1)!.args)).toEqual(["serve"]);
  });

  it("has a HEALTHCHECK that passes against a ready read plane and fails without one", async () => {
    const hc = dockerfile.filter((i) => i.op === "HEALTHCHECK").at(-1);
    expect(hc).toBeDefined();
    const m = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(hc!.args);
    expect(m, hc!.args).not.toBeNull();
    const argv = jsonArray(m![1]!);
    expect(argv[0]).toBe("node");
    expect(argv.join(" ")).toContain("/health/ready");
    expect(argv.join(" ")).toContain(String(planePorts.read));
    await expectReadinessPath("/health/ready");
    const [up, down] = await Promise.all([
      run(process.execPath, argv.slice(1), { env: { ...process.env, GATEHOUSE_SERVE_READ_PORT: String(server!.planes.ports.read) } }),
      run(process.execPath, argv.slice(1), { env: { ...process.env, GATEHOUSE_SERVE_READ_PORT: "1" } }),
    ]);
    expect(up.code, up.stderr).toBe(0);
    expect(down.code).toBe(1);
  });

  it("copies every file the runtime loads, none of them dropped by the ignore file", () => {
    const copied = copiedSources();
    expect(copied).toContain("package.json");
    for (const src of copied) expect(existsSync(join(root, src)), src).toBe(true);
    const ignoreFile = `${dockerfilePath}.dockerignore`;
    expect(existsSync(ignoreFile)).toBe(true);
    const ignored = dockerIgnore(readFileSync(ignoreFile, "utf8"));
    // The ignore list is in effect: development-only folders stay out of the build context.
    expect(ignored("node_modules/yaml/package.json")).toBe(true);
    expect(ignored("test/deploy/deploy.test.ts")).toBe(true);
    expect(ignored("engine/permission-engine.test.ts")).toBe(true);

    const { files, packages, missing } = runtimeClosure();
    expect(missing).toEqual([]);
    // The walk reached the lazily loaded commands and the worker entry piscina starts.
    for (const f of ["cli/commands/serve.ts", "cli/commands/migrate.ts", "engine/pool/evaluator-worker.ts", "package.json"]) {
      expect(files).toContain(f);
    }
    const outside = [...files].filter((f) => !copied.some((c) => f === c || f.startsWith(`${c}/`)));
    expect(outside).toEqual([]);
    expect([...files].filter((f) => ignored(f))).toEqual([]);
    // Every package the runtime imports is a production dependency (the image has no devDependencies).
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    expect([...packages].filter((p) => pkg.dependencies[p] === undefined)).toEqual([]);
  });
});

describe("deploy/docker-compose.yaml", () => {
  it("builds the image from the repository root with deploy/Dockerfile", () => {
    expect(gatehouseServices.map(([name]) => name).sort()).toEqual(["gatehouse-1", "gatehouse-2", "gatehouse-3", "migrate"]);
    for (const [name, s] of gatehouseServices) {
      expect(resolve(deployDir, s.build.context), name).toBe(root);
      expect(existsSync(join(root, s.build.dockerfile)), name).toBe(true);
      expect(s.image, name).toBe(gatehouseImage);
    }
  });

  it("runs PostgreSQL 16 and Redis 7 with health checks", () => {
    expect(services.postgres.image).toBe("postgres:16");
    expect(JSON.stringify(services.postgres.healthcheck.test)).toContain("pg_isready");
    expect(services.redis.image).toMatch(/^redis:7(\.|$|-)/);
    expect(JSON.stringify(services.redis.healthcheck.test)).toContain("ping");
  });

  it("migrates once against the compose PostgreSQL before the nodes start", () => {
    const migrate = services.migrate;
    expect(migrate.command).toEqual(["migrate"]);
    expect(migrate.depends_on.postgres.condition).toBe("service_healthy");
    expect(migrate.restart).toBe("no");
    const url = new URL(envOf(migrate).GATEHOUSE_DATABASE_URL!);
    const pg = envOf(services.postgres);
    expect(url.hostname).toBe("postgres");
    expect([url.username, url.password, url.pathname]).toEqual([pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, `/${pg.POSTGRES_DB}`]);
  });

  it("starts three nodes on PostgreSQL and Redis with a valid configuration", () => {
    const pg = envOf(services.postgres);
    for (const n of [1, 2, 3]) {
      const node = services[`gatehouse-${n}`];
      expect(node.command).toEqual(["serve"]);
      expect(node.depends_on.migrate.condition).toBe("service_completed_successfully");
      expect(node.depends_on.redis.condition).toBe("service_healthy");
      const env = envOf(node);
      expect(Object.keys(env)).toEqual(expect.arrayContaining(["GATEHOUSE_DSN", "GATEHOUSE_REDIS_URL", "GATEHOUSE_REDIS_KEY_PREFIX"]));
      const config = loadConfig({ env });
      expect(config.dsn.kind).toBe("postgres");
      const dsn = new URL(config.dsn.kind === "postgres" ? config.dsn.url : "x:");
      expect([dsn.hostname, dsn.username, dsn.password, dsn.pathname]).toEqual(["postgres", pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, `/${pg.POSTGRES_DB}`]);
      expect(new URL(config.redis.url!).hostname).toBe("redis");
      expect(config.redis.keyPrefix).toBe(env.GATEHOUSE_REDIS_KEY_PREFIX);
      // Compose stops with SIGTERM, then SIGKILL after stop_grace_period: graceful shutdown must fit.
      const grace = /^(\d+)s$/.exec(String(node.stop_grace_period));
      expect(grace).not.toBeNull();
      expect(Number(grace![1]) * 1000).toBeGreaterThan(config.serve.shutdownTimeoutMillis);
      expect((node.expose as string[]).map(Number).sort()).toEqual(allServePorts);
      // Browsers reach the identity public plane through Envoy: the base URL names Envoy's published port.
      expect(config.serve.identityPublic.port).toBe(identityPorts.public);
      expect(config.identity.publicBaseUrl, "GATEHOUSE_IDENTITY_PUBLIC_BASE_URL").toBeDefined();
      const base = new URL(config.identity.publicBaseUrl!);
      expect(Number(base.port)).toBe(identityPorts.public);
      expect((services.envoy.ports as string[]).map(containerPort)).toContain(Number(base.port));
      expect(composePlanePortOf(base.href), `${base.href} leads to the identity public plane`).toBe(identityPorts.public);
    }
    // Flows, redirects and the CSRF cookie's name derive from the base URL: every node must agree on it.
    const urls = new Set([1, 2, 3].map((n) => envOf(services[`gatehouse-${n}`]).GATEHOUSE_IDENTITY_PUBLIC_BASE_URL));
    expect(urls.size).toBe(1);
  });

  it("runs the OAuth2 service behind Envoy with one issuer and one system secret on every node", async () => {
    for (const n of [1, 2, 3]) {
      const node = services[`gatehouse-${n}`];
      const env = envOf(node);
      const config = loadConfig({ env });
      expect(config.serve.oauth2Public.port).toBe(oauth2Ports.public);
      expect(config.serve.oauth2Admin.port).toBe(oauth2Ports.admin);
      // Clients discover the issuer: it must be Envoy's published OAuth2 listener, not a node's own address.
      expect(config.oauth2.issuer, "GATEHOUSE_OAUTH2_ISSUER").toBeDefined();
      expect(composePlanePortOf(config.oauth2.issuer!), `${config.oauth2.issuer} leads to the OAuth2 public plane`).toBe(oauth2Ports.public);
      // The nodes see Envoy's connection: they take the scheme (and host) from its X-Forwarded-* headers.
      expect(config.oauth2.trustProxy, "GATEHOUSE_OAUTH2_TRUST_PROXY").toBe(true);
      // The login, consent and logout apps (the identity service's built-in pages unless configured) are
      // reachable by browsers through Envoy, on the identity public plane.
      const ui = {
        login: config.oauth2.loginUrl ?? `${config.identity.publicBaseUrl!}/ui/oauth2/login`,
        consent: config.oauth2.consentUrl ?? `${config.identity.publicBaseUrl!}/ui/oauth2/consent`,
        logout: config.oauth2.logoutUrl ?? `${config.identity.publicBaseUrl!}/ui/oauth2/logout`,
      };
      for (const [name, url] of Object.entries(ui)) {
        expect(composePlanePortOf(url), `oauth2 ${name} app at ${url}`).toBe(identityPorts.public);
        // And the running identity public plane has that page (400 without a challenge, not 404).
        const res = await fetch(`http://127.0.0.1:${livePort(identityPorts.public)}${new URL(url).pathname}`, { redirect: "manual" });
        expect(res.status, `${name} page ${new URL(url).pathname}`).not.toBe(404);
      }

      // The system secret comes from the host's environment: required, or with a marked development default.
      const raw = envOf(node, null).GATEHOUSE_OAUTH2_SECRETS_SYSTEM;
      const m = /^\$\{(\w+)(:-|:\?)([^}]*)\}$/.exec(raw ?? "");
      expect(m, `GATEHOUSE_OAUTH2_SECRETS_SYSTEM=${raw}`).not.toBeNull();
      const [, variable, op, fallback] = m!;
      if (op === ":-") {
        expect(fallback, "the default secret says it is for development only").toMatch(/insecure|dev/i);
        expect(config.oauth2.systemSecrets).toEqual([fallback]);
      } else {
        expect(() => envOf(node)).toThrow(variable!);
      }
      // A value exported on the host wins, rotation lists included.
      const exported = "0123456789abcdef-new,0123456789abcdef-old";
      const configured = loadConfig({ env: envOf(node, { [variable!]: exported }) });
      expect(configured.oauth2.systemSecrets).toEqual(exported.split(","));
    }
    // Tokens, cookies and discovery derive from these: every node must agree on them.
    for (const key of ["GATEHOUSE_OAUTH2_ISSUER", "GATEHOUSE_OAUTH2_SECRETS_SYSTEM", "GATEHOUSE_IDENTITY_PUBLIC_BASE_URL"]) {
      const values = new Set([1, 2, 3].map((n) => envOf(services[`gatehouse-${n}`], null)[key]));
      expect(values.size, key).toBe(1);
    }
    // The running OAuth2 public plane serves discovery at the issuer.
    const res = await fetch(`http://127.0.0.1:${livePort(oauth2Ports.public)}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { issuer: string }).issuer).toBe(server!.oauth2.issuer);
  });

  it("fronts the nodes with Envoy on the default ports", () => {
    const proxy = services.envoy;
    expect(proxy.image).toMatch(/^envoyproxy\/envoy:v1\.(3[1-9]|[4-9]\d)/);
    const mount = (proxy.volumes as string[]).find((v) => v.includes("envoy.yaml"))!;
    expect(existsSync(resolve(deployDir, mount.split(":")[0]!))).toBe(true);
    const published = (proxy.ports as string[]).map(containerPort);
    for (const p of [...allServePorts, envoy.admin.address.socket_address.port_value]) {
      expect(published).toContain(p);
    }
    // The admin APIs (identities, sessions; OAuth2 clients, keys, consents), the gateway's API and Envoy's
    // admin interface stay on the host's loopback.
    for (const p of [...internalPorts, envoy.admin.address.socket_address.port_value]) {
      const mapping = (proxy.ports as string[]).find((m) => containerPort(m) === p)!;
      expect(hostAddress(mapping), mapping).toBe("127.0.0.1");
    }
    // The gateway's reverse proxy is public, like the identity and OAuth2 public planes.
    for (const p of [identityPorts.public, oauth2Ports.public, proxyPorts.proxy]) {
      const mapping = (proxy.ports as string[]).find((m) => containerPort(m) === p)!;
      expect(hostAddress(mapping), mapping).toBeUndefined();
    }
  });
});

describe("deploy/envoy/envoy.yaml", () => {
  const listeners: Y[] = envoy.static_resources.listeners;
  const clusters: Y[] = envoy.static_resources.clusters;

  it("balances each plane round-robin over the three compose nodes at the plane's port", async () => {
    const listenerPorts = listeners.map((l) => l.address.socket_address.port_value as number);
    expect([...listenerPorts].sort()).toEqual(allServePorts);
    for (const port of listenerPorts) {
      const listener = listeners.find((l) => l.address.socket_address.port_value === port);
      const routed = envoyRouteClusters(listener);
      expect(routed.length, `listener :${port}`).toBeGreaterThan(0);
      for (const name of routed) {
        const cluster = clusters.find((c) => c.name === name);
        expect(cluster, name).toBeDefined();
        expect(cluster.type).toBe("STRICT_DNS");
        expect(cluster.lb_policy).toBe("ROUND_ROBIN");
        const http = cluster.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
        const http2 = http.explicit_http_config?.http2_protocol_options ?? http.use_downstream_protocol_config?.http2_protocol_options;
        if (http1OnlyPorts.includes(port)) {
          // The identity and OAuth2 planes are REST over HTTP/1.1 (h2c would reach the plane's gRPC server
          // instead), and the gateway's reverse proxy is an HTTP/1.1 server.
          expect(http.explicit_http_config?.http_protocol_options, `${name} speaks HTTP/1.1 upstream`).toBeDefined();
          expect(http2, `${name} never speaks HTTP/2 upstream`).toBeUndefined();
        } else {
          expect(http2, `${name} speaks HTTP/2 upstream`).toBeDefined();
        }
        const lbEndpoints: Y[] = cluster.load_assignment.endpoints.flatMap((e: Y) => e.lb_endpoints.map((l: Y) => l.endpoint));
        const endpoints = lbEndpoints.map((e) => e.address.socket_address);
        expect(endpoints.map((a: Y) => a.address).sort()).toEqual(["gatehouse-1", "gatehouse-2", "gatehouse-3"]);
        for (const a of endpoints) {
          expect(a.port_value).toBe(port);
          expect(services[a.address], a.address).toBeDefined();
        }
        // Health is checked on the plane's own port, except the gateway's reverse proxy, whose paths are all the
        // upstreams' (decided by the access rules): its nodes are checked on their API port.
        const healthPorts = new Set(lbEndpoints.map((e) => (e.health_check_config?.port_value ?? e.address.socket_address.port_value) as number));
        expect([...healthPorts], name).toEqual([port === proxyPorts.proxy ? proxyPorts.api : port]);
        const healthPort = [...healthPorts][0]!;
        expect(cluster.health_checks.length).toBeGreaterThan(0);
        for (const hc of cluster.health_checks) {
          // The planes answer plain HTTP/1.1 health checks; h2c goes to the gRPC server.
          expect(hc.http_health_check.codec_client_type ?? "HTTP1").toBe("HTTP1");
          await expectReadinessPath(hc.http_health_check.path);
          // And the running plane at that port answers it (the identity, OAuth2 and gateway planes included).
          const res = await fetch(`http://127.0.0.1:${livePort(healthPort)}${hc.http_health_check.path}`);
          expect(res.status, `:${healthPort}${hc.http_health_check.path}`).toBe(200);
        }
      }
      expect(allServePorts).toContain(port);
    }
  });

  it("keeps /metrics behind the proxy and the browsers' cookies through it", () => {
    for (const listener of listeners) {
      const port = listener.address.socket_address.port_value as number;
      const hcm = envoyHcm(listener);
      const routes: Y[] = hcm.route_config.virtual_hosts.flatMap((vh: Y) => vh.routes);
      // The gateway's reverse proxy has no /metrics: there, the path is an upstream's (see below).
      for (const path of port === proxyPorts.proxy ? [] : metricsPaths) {
        // Envoy takes the first route that matches.
        const first = routes.find((r) => r.match.path === path || (r.match.prefix !== undefined && path.startsWith(r.match.prefix)));
        expect(first?.direct_response?.status, `:${port}${path} is answered by Envoy`).toBe(404);
      }
      // Browser flows need the CSRF and session cookies both ways.
      const removed = [...removedHeaders(listener), ...removedHeaders(clusters)];
      expect(removed.filter((h) => h === "cookie" || h === "set-cookie"), `:${port}`).toEqual([]);
      expect(["AUTO", "HTTP1"], `:${port} accepts HTTP/1.1 clients`).toContain(hcm.codec_type ?? "AUTO");
    }
  });

  it("sets the X-Forwarded-* headers the OAuth2 nodes trust, whatever the client sends", () => {
    const trusting = loadConfig({ env: envOf(services["gatehouse-1"]) }).oauth2.trustProxy;
    expect(trusting).toBe(true);
    const listener = envoyListener(oauth2Ports.public);
    expect(envoyUpstreamPorts(oauth2Ports.public)).toEqual([oauth2Ports.public]);
    const hcm = envoyHcm(listener);
    // Envoy is the edge: it overwrites X-Forwarded-Proto with the client connection's scheme (no trusted hops
    // before it) and appends the client's address to X-Forwarded-For.
    expect(hcm.use_remote_address).toBe(true);
    expect(hcm.xff_num_trusted_hops ?? 0).toBe(0);
    // Envoy passes the Host through and never sets X-Forwarded-Host: a client's own one must not reach the nodes.
    expect(removedHeaders(listener)).toContain("x-forwarded-host");
  });

  it("forwards every path of the gateway's reverse proxy, WebSocket upgrades included", async () => {
    const listener = envoyListener(proxyPorts.proxy);
    expect(envoyUpstreamPorts(proxyPorts.proxy)).toEqual([proxyPorts.proxy]);
    const hcm = envoyHcm(listener);
    // Every path there is an upstream application's, /metrics and /health/* included: the access rules decide,
    // not Envoy.
    const routes: Y[] = hcm.route_config.virtual_hosts.flatMap((vh: Y) => vh.routes);
    expect(routes.filter((r) => r.direct_response !== undefined)).toEqual([]);
    expect(routes.filter((r) => r.match.prefix === "/").length).toBeGreaterThan(0);
    // The reverse proxy serves nothing of its own: without a matching rule those paths are refused (404).
    for (const path of ["/health/ready", "/health/alive", ...metricsPaths]) {
      const res = await fetch(`http://127.0.0.1:${livePort(proxyPorts.proxy)}${path}`);
      expect(res.status, `:${proxyPorts.proxy}${path}`).toBe(404);
      expect(await res.text()).not.toContain("gatehouse_");
    }
    expect((hcm.upgrade_configs as Y[] | undefined)?.map((u) => u.upgrade_type)).toContain("websocket");
    // Envoy is the edge there: it sets X-Forwarded-Proto and appends the client's address to X-Forwarded-For.
    expect(hcm.use_remote_address).toBe(true);
    expect(hcm.xff_num_trusted_hops ?? 0).toBe(0);
    // If the nodes believe Envoy's X-Forwarded-* (GATEHOUSE_PROXY_TRUSTED_PROXIES), a client's own
    // X-Forwarded-Host must not reach them.
    const trusted = loadConfig({ env: envOf(services["gatehouse-1"]) }).proxy.trustedProxies;
    if (trusted.length > 0) expect(removedHeaders(listener)).toContain("x-forwarded-host");
    // The gateway's API (decisions, ext_authz): gRPC and HTTP/1.1 like the read plane, to the nodes' API port.
    expect(envoyUpstreamPorts(proxyPorts.api)).toEqual([proxyPorts.api]);
  });

  it("has an admin port", () => {
    expect(envoy.admin.address.socket_address.port_value).toBeGreaterThan(0);
  });
});

describe("deploy/kubernetes/base", () => {
  const deployment = baseObject("Deployment", "gatehouse");
  const podSpec = deployment.spec.template.spec;
  const podLabels: Record<string, string> = deployment.spec.template.metadata.labels;
  const container = podSpec.containers.find((c: Y) => c.name === "gatehouse");
  const namedPorts = new Map<string, number>(container.ports.map((p: Y) => [p.name as string, p.containerPort as number]));
  const configMap = baseObject("ConfigMap", "gatehouse-config");
  const secret = baseObject("Secret", "gatehouse-secrets");
  const job = baseObject("Job", "gatehouse-migrate");

  it("lists only files that exist, and every manifest in the folder", () => {
    const k = loadOne(join(baseDir, "kustomization.yaml"));
    expect(k.kind).toBe("Kustomization");
    expect(k.namespace).toBeUndefined();
    for (const r of k.resources as string[]) expect(existsSync(join(baseDir, r)), r).toBe(true);
    const manifests = readdirSync(baseDir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml");
    expect([...(k.resources as string[])].sort()).toEqual(manifests.sort());
    for (const r of base) expect(r.obj.metadata.namespace, r.file).toBeUndefined();
  });

  it("gives every container an image, named ports and resource requests and limits", () => {
    const images = new Set((loadOne(join(baseDir, "kustomization.yaml")).images as Y[]).map((i) => i.name as string));
    for (const obj of [...baseObjects("Deployment"), ...baseObjects("Job")]) {
      for (const c of obj.spec.template.spec.containers) {
        const where = `${obj.kind}/${obj.metadata.name} ${c.name}`;
        expect(typeof c.image === "string" && c.image !== "", where).toBe(true);
        expect(images.has(c.image.split(":")[0]), `${where}: image set by the kustomization`).toBe(true);
        for (const p of c.ports ?? []) expect(p.name, `${where}: port ${p.containerPort}`).toMatch(/^[a-z0-9-]{1,15}$/);
        expectResources(c.resources, where);
      }
    }
  });

  it("runs `gatehouse serve` with 3 replicas on the default ports", () => {
    expect(deployment.spec.replicas).toBe(3);
    expect(container.args).toEqual(["serve"]);
    expect(Object.fromEntries(namedPorts)).toEqual(namedServePorts);
    expect(selects(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
  });

  it("probes readiness and liveness on paths the read plane serves", async () => {
    const { readinessProbe, livenessProbe, startupProbe } = container;
    for (const probe of [readinessProbe, livenessProbe, startupProbe]) {
      expect(probe?.httpGet, "an httpGet probe").toBeDefined();
      expect(namedPorts.get(probe.httpGet.port)).toBe(planePorts.read);
    }
    await expectReadinessPath(readinessProbe.httpGet.path);
    await expectLivenessPath(livenessProbe.httpGet.path);
    await expectLivenessPath(startupProbe.httpGet.path);
    // And the running read plane answers them.
    for (const path of [readinessProbe.httpGet.path, livenessProbe.httpGet.path]) {
      const res = await fetch(`http://127.0.0.1:${server!.planes.ports.read}${path}`);
      expect(res.status, path).toBe(200);
    }
  });

  it("advertises a Prometheus scrape target that serves metrics", async () => {
    const annotations: Record<string, string> = deployment.spec.template.metadata.annotations;
    expect(annotations["prometheus.io/scrape"]).toBe("true");
    const port = Number(annotations["prometheus.io/port"]);
    expect([...namedPorts.values()]).toContain(port);
    // The engine's metrics (one registry for read and write); the identity planes have a registry of their own.
    expect(allPlanePorts).toContain(port);
    const path = annotations["prometheus.io/path"]!;
    expect(metricsPaths).toContain(path);
    const res = await fetch(`http://127.0.0.1:${livePort(port)}${path}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("gatehouse_rpc_requests_total");
  });

  it("serves the identity service's metrics on its admin port, not on its public port", async () => {
    const admin = namedPorts.get("identity-admin")!;
    const pub = namedPorts.get("identity-public")!;
    for (const path of metricsPaths) {
      const p = await fetch(`http://127.0.0.1:${livePort(pub)}${path}`);
      expect(p.status, `:${pub}${path}`).toBe(404);
      // The admin port's registry counts the public plane's requests (that 404 included).
      const a = await fetch(`http://127.0.0.1:${livePort(admin)}${path}`);
      expect(a.status, `:${admin}${path}`).toBe(200);
      expect(await a.text()).toContain('gatehouse_rpc_requests_total{plane="identity-public"');
    }
  });

  it("serves the OAuth2 service's metrics on its admin port, not on its public port", async () => {
    const admin = namedPorts.get("oauth2-admin")!;
    const pub = namedPorts.get("oauth2-public")!;
    for (const path of metricsPaths) {
      const p = await fetch(`http://127.0.0.1:${livePort(pub)}${path}`);
      expect(p.status, `:${pub}${path}`).toBe(404);
    }
    // The admin port's registry counts the public plane's requests (those 404s included).
    const a = await fetch(`http://127.0.0.1:${livePort(admin)}/metrics`);
    expect(a.status, `:${admin}/metrics`).toBe(200);
    expect(await a.text()).toContain('gatehouse_rpc_requests_total{plane="oauth2-public"');
  });

  it("serves the gateway's metrics on its API port, not on its reverse proxy port", async () => {
    const api = namedPorts.get("proxy-api")!;
    const pub = namedPorts.get("proxy")!;
    for (const path of metricsPaths) {
      // On the reverse proxy every path is an upstream's: without a rule for it, 404.
      const p = await fetch(`http://127.0.0.1:${livePort(pub)}${path}`);
      expect(p.status, `:${pub}${path}`).toBe(404);
    }
    const a = await fetch(`http://127.0.0.1:${livePort(api)}/metrics`);
    expect(a.status, `:${api}/metrics`).toBe(200);
    expect(await a.text()).toContain("gatehouse_proxy_decisions_total");
  });

  it("mounts the example access rules where the gateway reads them, and they load", async () => {
    const config = loadConfig({ env: { ...configMap.data, ...secret.stringData } });
    expect(config.proxy.ruleSources.length).toBeGreaterThan(0);
    const mounts: Y[] = container.volumeMounts;
    for (const source of config.proxy.ruleSources) {
      const path = source.replace(/^file:\/\//, "");
      const mount = mounts.find((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`));
      expect(mount, `${source} is mounted`).toBeDefined();
      // Read-only, and a whole-folder mount: a subPath mount never receives the ConfigMap's updates.
      expect(mount.readOnly, source).toBe(true);
      expect(mount.subPath, source).toBeUndefined();
      const volume = (podSpec.volumes as Y[]).find((v) => v.name === mount.name);
      expect(volume?.configMap?.name, `${source} is a ConfigMap`).toBe(accessRules.metadata.name);
    }
    // Every key is a rule file the gateway reads (by extension) in Oathkeeper's format.
    const keys = Object.keys(accessRules.data as Record<string, string>);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key).toMatch(/\.(ya?ml|json)$/);
    const ids = keys.flatMap((key) => (parse(accessRules.data[key]) as Y[]).map((r) => r.id as string));
    // The running gateway loaded them as the kubelet mounts them (the ..data folder is not read twice).
    const res = await fetch(`http://127.0.0.1:${livePort(proxyPorts.api)}/rules`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }[]).map((r) => r.id).sort()).toEqual([...ids].sort());
  });

  it("runs non-root on a read-only root filesystem with a writable /tmp", () => {
    expect(podSpec.securityContext.runAsNonRoot).toBe(true);
    expect(podSpec.securityContext.runAsUser).toBeGreaterThan(0);
    for (const obj of [deployment, job]) {
      const spec = obj.spec.template.spec;
      for (const c of spec.containers) {
        expect(c.securityContext.readOnlyRootFilesystem, c.name).toBe(true);
        expect(c.securityContext.allowPrivilegeEscalation, c.name).toBe(false);
        const tmp = (c.volumeMounts as Y[]).find((m) => m.mountPath === "/tmp");
        expect(tmp, `${c.name} mounts /tmp`).toBeDefined();
        const volume = (spec.volumes as Y[]).find((v) => v.name === tmp.name);
        expect(volume?.emptyDir, `${c.name}: /tmp is an emptyDir`).toBeDefined();
      }
    }
  });

  it("takes its settings from the ConfigMap and the Secret, which form a valid configuration", () => {
    const refs = (container.envFrom as Y[]).map((e) => e.configMapRef?.name ?? e.secretRef?.name);
    expect(refs.sort()).toEqual([configMap.metadata.name, secret.metadata.name].sort());
    expect(secret.stringData.GATEHOUSE_DSN).toBeDefined();
    expect(configMap.data.GATEHOUSE_DSN).toBeUndefined();
    for (const value of Object.values(secret.stringData as Record<string, string>)) {
      expect(value, "Secret values are placeholders").toMatch(/REPLACE-ME/);
    }
    const config = loadConfig({ env: { ...configMap.data, ...secret.stringData } });
    expect(config.dsn.kind).toBe("postgres");
    expect(config.redis.url).toBeDefined();
    expect(config.serve.read.port).toBe(planePorts.read);
    expect(config.serve.identityPublic.port).toBe(identityPorts.public);
    expect(config.serve.identityAdmin.port).toBe(identityPorts.admin);
    // A placeholder for the URL browsers reach the identity public plane at (https: Secure cookies).
    expect(configMap.data.GATEHOUSE_IDENTITY_PUBLIC_BASE_URL).toMatch(/REPLACE-ME/);
    expect(config.identity.publicBaseUrl).toMatch(/^https:\/\//);
    // The OAuth2 service: its ports, a placeholder issuer (the Ingress's https URL, which terminates TLS, so
    // the pods trust its X-Forwarded-* headers) and a system secret every pod shares, kept in the Secret.
    expect(config.serve.oauth2Public.port).toBe(oauth2Ports.public);
    expect(config.serve.oauth2Admin.port).toBe(oauth2Ports.admin);
    expect(config.serve.proxy.port).toBe(proxyPorts.proxy);
    expect(config.serve.proxyApi.port).toBe(proxyPorts.api);
    expect(configMap.data.GATEHOUSE_OAUTH2_ISSUER).toMatch(/REPLACE-ME/);
    expect(config.oauth2.issuer).toMatch(/^https:\/\//);
    expect(config.oauth2.trustProxy).toBe(true);
    expect(configMap.data.GATEHOUSE_OAUTH2_SECRETS_SYSTEM).toBeUndefined();
    expect(secret.stringData.GATEHOUSE_OAUTH2_SECRETS_SYSTEM).toBeDefined();
    expect(config.oauth2.systemSecrets.length).toBeGreaterThan(0);
    // The login, consent and logout apps: the identity service's pages on its https base URL by default, or
    // other https URLs (browsers carry the session there).
    for (const url of [config.oauth2.loginUrl, config.oauth2.consentUrl, config.oauth2.logoutUrl]) {
      if (url !== undefined) expect(url).toMatch(/^https:\/\//);
    }
  });

  it("gives graceful shutdown time to finish before Kubernetes kills the pod", () => {
    const config = loadConfig({ env: configMap.data });
    const preStop = container.lifecycle?.preStop?.exec?.command as string[] | undefined;
    const pauseMillis = preStop?.[0] === "sleep" ? Number(preStop[1]) * 1000 : 0;
    expect(podSpec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.serve.shutdownTimeoutMillis + pauseMillis);
  });

  it("spreads the pods across zones and nodes", () => {
    const spread: Y[] = podSpec.topologySpreadConstraints ?? [];
    const anti: Y[] = podSpec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(spread.length + anti.length).toBeGreaterThan(0);
    for (const s of spread) expect(selects(s.labelSelector.matchLabels, podLabels)).toBe(true);
  });

  it("selects the Deployment's pods (and not the migration Job's) from the Services, PDB and HPA", () => {
    const jobLabels: Record<string, string> = job.spec.template.metadata.labels;
    const svc = baseObject("Service", "gatehouse");
    const headless = baseObject("Service", "gatehouse-headless");
    expect(svc.spec.type ?? "ClusterIP").toBe("ClusterIP");
    expect(headless.spec.clusterIP).toBe("None");
    expect(headless.spec.publishNotReadyAddresses).toBe(false);
    for (const s of [svc, headless]) {
      expect(selects(s.spec.selector, podLabels), s.metadata.name).toBe(true);
      expect(selects(s.spec.selector, jobLabels), s.metadata.name).toBe(false);
      for (const p of s.spec.ports) {
        const target = typeof p.targetPort === "string" ? namedPorts.get(p.targetPort) : p.targetPort;
        expect(target, `${s.metadata.name} ${p.name}`).toBe(p.port);
        expect(allServePorts).toContain(p.port);
      }
      expect(s.spec.ports.map((p: Y) => p.port as number).sort(), s.metadata.name).toEqual(allServePorts);
    }
    const pdb = baseObject("PodDisruptionBudget", "gatehouse");
    expect(selects(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(selects(pdb.spec.selector.matchLabels, jobLabels)).toBe(false);
    if (pdb.spec.maxUnavailable !== undefined) expect(pdb.spec.maxUnavailable).toBe(1);
    else expect(pdb.spec.minAvailable).toBe(deployment.spec.replicas - 1);

    const hpa = baseObject("HorizontalPodAutoscaler", "gatehouse");
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: deployment.metadata.name });
    expect(hpa.spec.metrics.some((m: Y) => m.type === "Resource" && m.resource.name === "cpu")).toBe(true);
    expect(hpa.spec.minReplicas).toBeLessThanOrEqual(deployment.spec.replicas);
    expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(deployment.spec.replicas);
  });

  it("migrates with a Job that reads the DSN from the Secret", () => {
    const spec = job.spec.template.spec;
    expect(job.spec.backoffLimit).toBeGreaterThan(0);
    expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(["Never", "OnFailure"]).toContain(spec.restartPolicy);
    const [c] = spec.containers;
    expect([...(c.command ?? []), ...(c.args ?? [])]).toEqual(["migrate"]);
    const url = (c.env as Y[]).find((e) => e.name === "GATEHOUSE_DATABASE_URL");
    expect(url.valueFrom.secretKeyRef.name).toBe(secret.metadata.name);
    expect(secret.stringData[url.valueFrom.secretKeyRef.key]).toMatch(/^postgres(ql)?:\/\//);
  });
});

describe("deploy/kubernetes/overlays/production", () => {
  const k = loadOne(join(overlayDir, "kustomization.yaml"));
  const deployment = baseObject("Deployment", "gatehouse");

  it("builds on the base in its own namespace with a pinned image", () => {
    expect(k.resources).toContain("../../base");
    for (const r of k.resources as string[]) expect(existsSync(join(overlayDir, r)), r).toBe(true);
    expect(typeof k.namespace).toBe("string");
    const ns = kustomizationResources(overlayDir).find((r) => r.obj.kind === "Namespace");
    expect(ns?.obj.metadata.name).toBe(k.namespace);
    const baseImages = new Set(
      [...baseObjects("Deployment"), ...baseObjects("Job")].flatMap((o) => o.spec.template.spec.containers.map((c: Y) => c.image as string)),
    );
    expect(k.images.length).toBeGreaterThan(0);
    for (const image of k.images as Y[]) {
      expect(baseImages.has(image.name), image.name).toBe(true);
      expect(String(image.newTag ?? image.digest ?? "")).not.toMatch(/^(latest)?$/);
    }
  });

  it("patches only resources the base has, to a consistent shape", () => {
    for (const r of k.replicas as Y[]) baseObject("Deployment", r.name);
    const replicas = (k.replicas as Y[]).find((r) => r.name === deployment.metadata.name)?.count;
    expect(replicas).toBe(5);
    expect(k.patches.length).toBeGreaterThan(0);
    let hpa: Y = structuredClone(baseObject("HorizontalPodAutoscaler", "gatehouse"));
    for (const p of k.patches as Y[]) {
      expect(existsSync(join(overlayDir, p.path)), p.path).toBe(true);
      for (const patch of loadYaml(join(overlayDir, p.path))) {
        const kind: string = p.target?.kind ?? patch.kind;
        const name: string = p.target?.name ?? patch.metadata.name;
        const target = baseObject(kind, name);
        if (kind === "Deployment") {
          for (const c of patch.spec.template.spec.containers) {
            expect(target.spec.template.spec.containers.some((b: Y) => b.name === c.name), c.name).toBe(true);
            if (c.resources !== undefined) expectResources(c.resources, `${p.path} ${c.name}`);
          }
        }
        if (kind === "HorizontalPodAutoscaler") hpa = { ...hpa, spec: { ...hpa.spec, ...patch.spec } };
        if (kind === "ConfigMap") loadConfig({ env: { ...target.data, ...patch.data } });
      }
    }
    expect(hpa.spec.minReplicas).toBeLessThanOrEqual(replicas);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(replicas);
  });

  it.skipIf(!onPath("kubectl"))("renders with kubectl kustomize", async () => {
    const [b, o] = await Promise.all([
      run("kubectl", ["kustomize", baseDir]),
      run("kubectl", ["kustomize", overlayDir]),
    ]);
    expect(b.code, b.stderr).toBe(0);
    expect(o.code, o.stderr).toBe(0);
    const objects = parseAllDocuments(o.stdout).map((d) => d.toJS() as Y);
    const rendered = objects.find((x) => x.kind === "Deployment" && x.metadata.name === "gatehouse");
    expect(rendered.spec.replicas).toBe(5);
    expect(rendered.spec.template.spec.containers[0].image).toMatch(/:(?!latest$)[^:]+$/);
    for (const x of objects) if (x.kind !== "Namespace") expect(x.metadata.namespace, `${x.kind}/${x.metadata.name}`).toBe(k.namespace);
  });
});

describe("deploy/kubernetes/istio", () => {
  const istioDir = join(deployDir, "kubernetes/istio");
  const objects: Y[] = walk(istioDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .flatMap((f) => loadYaml(f));
  const providers: Y[] = objects.filter((o) => o.kind === "IstioOperator").flatMap((o) => o.spec?.meshConfig?.extensionProviders ?? []);
  const provider = (name: string): Y => providers.find((p) => p.name === name);
  const policies: Y[] = objects.filter((o) => o.kind === "AuthorizationPolicy");
  const service = baseObject("Service", "gatehouse");
  const deployment = baseObject("Deployment", "gatehouse");
  const containerPorts: Y[] = deployment.spec.template.spec.containers.find((c: Y) => c.name === "gatehouse").ports;
  const namespace: string = loadOne(join(overlayDir, "kustomization.yaml")).namespace;
  /** The example rules' `header` mutator headers, lower-cased. */
  const mutatedHeaders = Object.values(accessRules.data as Record<string, string>)
    .flatMap((text) => parse(text) as Y[])
    .flatMap((rule) => (rule.mutators ?? []) as Y[])
    .filter((m) => m.handler === "header")
    .flatMap((m) => Object.keys(m.config?.headers ?? {}).map((h) => h.toLowerCase()));

  it("stays out of the kustomize base and overlay", () => {
    for (const dir of [baseDir, overlayDir]) {
      const k = loadOne(join(dir, "kustomization.yaml"));
      for (const r of k.resources as string[]) expect(resolve(dir, r).startsWith(istioDir), r).toBe(false);
    }
  });

  it("defines gRPC and HTTP ext_authz providers on the gateway's API port of the gatehouse Service", () => {
    const grpc = provider("gatehouse-grpc")?.envoyExtAuthzGrpc;
    const http = provider("gatehouse-http")?.envoyExtAuthzHttp;
    expect(grpc, "gatehouse-grpc").toBeDefined();
    expect(http, "gatehouse-http").toBeDefined();
    for (const p of [grpc, http]) {
      expect(p.service).toBe(`${service.metadata.name}.${namespace}.svc.cluster.local`);
      expect(p.port).toBe(proxyPorts.api);
      expect(String(p.timeout)).toMatch(/^\d+(\.\d+)?s$/);
    }
    // The Service's port leads to the container's proxy-api port.
    const servicePort = (service.spec.ports as Y[]).find((p) => p.port === proxyPorts.api);
    expect(servicePort?.targetPort).toBe("proxy-api");
    expect(containerPorts.find((p) => p.name === servicePort.targetPort)?.containerPort).toBe(proxyPorts.api);
    // gRPC (h2c) and HTTP/1.1 share that port: no protocol for Istio to force, it detects it per connection.
    expect(servicePort.name).not.toMatch(/^(grpc|grpc-web|http|http2|tcp|tls|https)(-|$)/);
    expect(servicePort.appProtocol).toBeUndefined();
    expect(http.pathPrefix).toBe("/decisions");
  });

  it("passes the example rule's credentials into the HTTP check and its headers out of it", () => {
    const http = provider("gatehouse-http").envoyExtAuthzHttp;
    const lower = (list: Y[] | undefined): string[] => (list ?? []).map((h) => String(h).toLowerCase());
    // The example rule's credentials: the session cookie and the bearer token.
    expect(lower(http.includeRequestHeadersInCheck)).toEqual(expect.arrayContaining(["cookie", "authorization"]));
    // On allow, the mutators' headers go to the workload.
    expect(mutatedHeaders.length).toBeGreaterThan(0);
    expect(lower(http.headersToUpstreamOnAllow)).toEqual(expect.arrayContaining(mutatedHeaders));
    // On deny, the error handlers' redirect and challenge reach the client.
    expect(lower(http.headersToDownstreamOnDeny)).toEqual(expect.arrayContaining(["location", "www-authenticate"]));
  });

  it("sends the example workload's requests to a defined provider with a CUSTOM AuthorizationPolicy", () => {
    expect(policies.length).toBeGreaterThan(0);
    for (const policy of policies) {
      const where = `AuthorizationPolicy/${policy.metadata.name}`;
      expect(policy.apiVersion, where).toBe("security.istio.io/v1");
      expect(policy.spec.action, where).toBe("CUSTOM");
      expect(providers.map((p) => p.name), where).toContain(policy.spec.provider?.name);
      expect(Object.keys(policy.spec.selector?.matchLabels ?? {}).length, `${where} selects a workload`).toBeGreaterThan(0);
      const paths = (policy.spec.rules as Y[]).flatMap((r) => (r.to as Y[]).flatMap((t) => (t.operation?.paths ?? []) as string[]));
      expect(paths.length, `${where} selects paths`).toBeGreaterThan(0);
    }
  });

  it("answers both providers' checks on the API port with the example rule's decision", async () => {
    const [policy] = policies;
    const paths = (policy.spec.rules as Y[]).flatMap((r) => (r.to as Y[]).flatMap((t) => (t.operation?.paths ?? []) as string[]));
    // A request the policy selects and the example rule matches, without credentials: the rule answers 401
    // (a request no rule matches gets 404).
    const path = "/documents/0f8fad5b-d9cb-469f-a165-70867728950e";
    const istioPathMatches = (pattern: string, p: string): boolean =>
      pattern.endsWith("*") ? p.startsWith(pattern.slice(0, -1)) : pattern.startsWith("*") ? p.endsWith(pattern.slice(1)) : p === pattern;
    expect(paths.some((pattern) => istioPathMatches(pattern, path))).toBe(true);
    const api = livePort(proxyPorts.api);

    // gatehouse-http: Envoy sends the original method and Host to pathPrefix + the original path.
    const prefix: string = provider("gatehouse-http").envoyExtAuthzHttp.pathPrefix;
    const httpStatus = (target: string): Promise<number> =>
      new Promise((resolvePromise, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port: api, method: "GET", path: `${prefix}${target}`, headers: { host: "api.example.com" } }, (res) => {
          res.resume();
          resolvePromise(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    expect(await httpStatus(path)).toBe(401);
    expect(await httpStatus("/nothing-matches")).toBe(404);

    // gatehouse-grpc: envoy.service.auth.v3.Authorization/Check over h2c on the same port.
    const client = new Client(`127.0.0.1:${api}`, credentials.createInsecure());
    try {
      const check = (target: string): Promise<CheckResponse> =>
        new Promise((resolvePromise, reject) => {
          const request = create(CheckRequestSchema, {
            attributes: { request: { http: { method: "GET", host: "api.example.com", path: target, scheme: "http", headers: {} } } },
          });
          client.makeUnaryRequest(
            "/envoy.service.auth.v3.Authorization/Check",
            (m: CheckRequest) => Buffer.from(toBinary(CheckRequestSchema, m)),
            (b: Buffer) => fromBinary(CheckResponseSchema, b),
            request,
            new Metadata(),
            {},
            (error: ServiceError | null, response?: CheckResponse) => (error !== null || response === undefined ? reject(error ?? new Error("no response")) : resolvePromise(response)),
          );
        });
      const denied = await check(path);
      expect(denied.status?.code).toBe(16); // UNAUTHENTICATED
      expect(denied.httpResponse.case).toBe("deniedResponse");
      if (denied.httpResponse.case === "deniedResponse") expect(denied.httpResponse.value.status?.code).toBe(401);
    } finally {
      client.close();
    }
  });
});

function onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((d) => d !== "" && existsSync(join(d, command)));
}
