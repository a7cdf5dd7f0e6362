/**
 * Figure 5: casbin against Gatehouse on the same RBAC data (10k users, 1k nested roles, 20k policies on 2k
 * resources; `datasets/rbac.ts`).
 *
 * casbin: `casbin` from npm, the textbook RBAC model with a role hierarchy (`g = _, _`, matcher
 * `g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act`), policies loaded from a `StringAdapter` holding the
 * dataset's `p`/`g` lines, default role manager, no cache (`newEnforcer`, not `newCachedEnforcer`), timed with
 * `enforceSync` one request after another (it is synchronous, so more in flight would not help it).
 *
 * Gatehouse: the same data as tuples, cache disabled, evaluating on the calling thread, 256 checks in
 * flight (figure 1's cold single-thread setup). The ratio is Gatehouse's checks/s over casbin's enforce/s on
 * the same request list (half granted by construction, half random). Both answer the first requests and must
 * agree; the agreement is recorded.
 */
import { createRequire } from "node:module";
import { newEnforcer, newModelFromString, StringAdapter, type Enforcer } from "casbin";
import { CASBIN_RBAC_MODEL, CASBIN_RBAC_MODEL_OBJECT_FIRST, DEFAULT_RBAC, Rbac, RBAC_SCHEMA_FGA, type RbacRequest } from "../datasets/rbac.js";
import type { Figure } from "../report-types.js";
import type { BenchContext } from "../support/context.js";
import { createDatasetStore } from "../support/dataset-store.js";
import { engineParams, openBenchEngine } from "../support/engine.js";
import { measureRate, progress, repeat, timed } from "../support/measure.js";
import type { CheckRequest } from "../../engine/permission-engine.js";

const GROUP = 5;
const CONCURRENCY = 256;

function toCheck(r: RbacRequest): CheckRequest {
  return { namespace: "resource", object: r.resource, relation: r.action, subject: { kind: "set", namespace: "user", object: r.user, relation: "" } };
}

export async function runCasbinFigures(ctx: BenchContext): Promise<Figure[]> {
  const rbac = new Rbac(DEFAULT_RBAC);
  const requests = rbac.workload(20_000);
  const checks = requests.map(toCheck);
  const n = requests.length;

  progress("figure 5: loading casbin");
  const lines = [...rbac.casbinLines()];
  const { ms: casbinLoadMs, value: enforcer } = await timed(() => newEnforcer(newModelFromString(CASBIN_RBAC_MODEL), new StringAdapter(lines.join("\n"))));

  progress("figure 5: loading Gatehouse");
  const store = createDatasetStore({ text: RBAC_SCHEMA_FGA, language: "fga" }, () => rbac.tuples());
  const engine = await openBenchEngine(store, { threads: 0, cacheBytes: 0 });
  try {
    // casbin takes tens of milliseconds per request, so the agreement sample is small in quick mode.
    const sample = ctx.quick ? 40 : 200;
    let agree = 0;
    let granted = 0;
    for (let i = 0; i < sample; i++) {
      const r = requests[i] as RbacRequest;
      const theirs = enforcer.enforceSync(r.user, r.resource, r.action);
      const ours = await engine.check(checks[i] as CheckRequest);
      if (theirs === ours) agree++;
      if (ours) granted++;
    }

    progress("figure 5: casbin enforce");
    const enforceRate = (e: Enforcer) =>
      repeat(ctx.runs, (run) =>
        measureRate(
          async (i) => {
            const r = requests[(run * 1009 + i) % n] as RbacRequest;
            e.enforceSync(r.user, r.resource, r.action);
            return 1;
          },
          { concurrency: 1, durationMs: ctx.quick ? 800 : 3_000, warmupMs: 100 },
        ),
      );
    const casbin = await enforceRate(enforcer);
    // The same model with the matcher's cheap equality tests first, so g() only runs for policies on the
    // requested object and action: not the textbook model, shown so the ratio is not read as casbin's best.
    progress("figure 5: casbin enforce, matcher reordered");
    const tunedEnforcer = await newEnforcer(newModelFromString(CASBIN_RBAC_MODEL_OBJECT_FIRST), new StringAdapter(lines.join("\n")));
    const tuned = await enforceRate(tunedEnforcer);
    progress("figure 5: Gatehouse check");
    const ours = await repeat(ctx.runs, () =>
      measureRate(
        async (i) => {
          await engine.check(checks[i % n] as CheckRequest);
          return 1;
        },
        { concurrency: CONCURRENCY, durationMs: ctx.throughputMs },
      ),
    );
    const { users, roles, policies, resources } = rbac.config;
    const dataset = { users, roles, policies, resources, roleTreeDepth: 5 };
    const agreement = Math.round((agree / sample) * 1000) / 1000;
    return [
      {
        id: "casbin.enforce",
        group: GROUP,
        title: `casbin ${casbinVersion()} enforce, textbook RBAC with role hierarchy`,
        unit: "enforce/s",
        ...casbin,
        params: { ...dataset, model: "RBAC g = _, _", adapter: "StringAdapter", cached: false, call: "enforceSync", loadSeconds: Math.round(casbinLoadMs) / 1000 },
      },
      {
        id: "casbin.enforce.reordered",
        group: GROUP,
        title: `casbin enforce, same model with the matcher reordered (r.obj == p.obj && r.act == p.act && g(r.sub, p.sub))`,
        unit: "enforce/s",
        ...tuned,
        ratio: { against: "casbin.enforce", value: tuned.median / casbin.median },
        params: { ...dataset, adapter: "StringAdapter", cached: false, call: "enforceSync" },
      },
      {
        id: "casbin.gatehouse.check",
        group: GROUP,
        title: "Gatehouse check on the same RBAC data (cold cache, one thread)",
        unit: "checks/s",
        ...ours,
        ratio: { against: "casbin.enforce", value: ours.median / casbin.median },
        params: { ...dataset, ...engineParams(engine), concurrency: CONCURRENCY, ratioToReorderedCasbin: Math.round(ours.median / tuned.median), agreementWithCasbin: agreement, agreementSample: sample, grantedShare: granted / sample },
      },
    ];
  } finally {
    await engine.close();
  }
}

/** The installed casbin version, so the report names what was measured. */
function casbinVersion(): string {
  const pkg = createRequire(import.meta.url)("casbin/package.json") as { version?: string };
  return pkg.version ?? "?";
}
