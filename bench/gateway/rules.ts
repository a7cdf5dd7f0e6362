/**
 * The access rules of figure group 9: the two measured rules plus generated fillers, so a rule set holds
 * exactly N rules (1, 100 or 10,000; the 1-rule set holds only the measured rules, one per route, see below).
 *
 * Measured (both on host `api.test`, forwarded to the upstream):
 * - `bench-noop`: `http://api.test/noop/<.*>`, authenticator `noop`, authorizer `allow`, mutator `noop`;
 * - `bench-session`: `http://api.test/docs/<[a-z0-9-]+>`, authenticator `cookie_session` (its default cache
 *   on, 10 s), authorizer `permission` (`Document:<capture>#view@<subject>` against the engine in the same
 *   process), mutator `header` (`X-User: <subject>`).
 *
 * Fillers, deterministic in their index i (none can match a measured request): mostly `api.test/svc<i>/…`
 * with a literal prefix (a tenth with a regexp segment, `/svc<i>/items/<[0-9]+>`), a tenth on other literal
 * hosts (`svc<i>.internal.test`), and 1% on a wildcard subdomain (`<[a-z0-9-]+>.tenant<i>.test`): a
 * leading-variable host has no literal origin, so the matcher files it by the host's literal end. Their handlers rotate over the measured kinds and `anonymous` + `header`, so preparing them costs
 * what real rules cost.
 */

/** The host of every measured request. */
export const BENCH_HOST = "api.test";
/** Path of the noop-rule request (b). */
export const NOOP_PATH = "/noop/item";
/** Path of the session-rule request (c, d): document `d1`, which the registered identity may view. */
export const SESSION_PATH = "/docs/d1";
/** The document the identity is a viewer of (the tuple written at start-up). */
export const SESSION_DOCUMENT = "d1";
export const SESSION_COOKIE = "ory_kratos_session";

/** The OPL schema the gateway's engine serves. */
export const BENCH_OPL = `import { Namespace, Context } from "@ory/keto-namespace-types"
class User implements Namespace {}
class Document implements Namespace {
  related: { viewers: User[] }
  permits = { view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject) }
}
`;

/** Oathkeeper's rule shape, as written to the rule file. */
type RuleDoc = Record<string, unknown>;

const PERMISSION_CHECK = "Document:{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}#view@{{ .Subject }}";
const SUBJECT_HEADER = { handler: "header", config: { headers: { "X-User": "{{ print .Subject }}" } } };

/** The two measured rules. */
export function measuredRules(upstream: string): RuleDoc[] {
  return [
    {
      id: "bench-noop",
      match: { url: `http://${BENCH_HOST}/noop/<.*>`, methods: ["GET"] },
      authenticators: [{ handler: "noop" }],
      authorizer: { handler: "allow" },
      mutators: [{ handler: "noop" }],
      upstream: { url: upstream },
    },
    {
      id: "bench-session",
      match: { url: `http://${BENCH_HOST}/docs/<[a-z0-9-]+>`, methods: ["GET"] },
      authenticators: [{ handler: "cookie_session" }],
      authorizer: { handler: "permission", config: { check: PERMISSION_CHECK } },
      mutators: [SUBJECT_HEADER],
      upstream: { url: upstream },
    },
  ];
}

/** The i-th filler rule. */
function fillerRule(i: number, upstream: string): RuleDoc {
  let url: string;
  if (i % 100 === 50) url = `http://<[a-z0-9-]+>.tenant${i}.test/<.*>`;
  else if (i % 10 === 3) url = `http://svc${i}.internal.test/<.*>`;
  else if (i % 10 === 7) url = `http://${BENCH_HOST}/svc${i}/items/<[0-9]+>`;
  else url = `http://${BENCH_HOST}/svc${i}/<.*>`;
  const handlers: RuleDoc =
    i % 3 === 0
      ? { authenticators: [{ handler: "noop" }], authorizer: { handler: "allow" }, mutators: [{ handler: "noop" }] }
      : i % 3 === 1
        ? { authenticators: [{ handler: "anonymous" }], authorizer: { handler: "allow" }, mutators: [SUBJECT_HEADER] }
        : {
            authenticators: [{ handler: "cookie_session" }],
            authorizer: { handler: "permission", config: { check: PERMISSION_CHECK } },
            mutators: [SUBJECT_HEADER],
          };
  return {
    id: `filler-${i}`,
    match: { url, methods: i % 2 === 0 ? ["GET", "POST"] : ["GET", "PUT", "DELETE"] },
    ...handlers,
    upstream: { url: upstream },
  };
}

/**
 * A rule set of `count` rules: the measured ones and `count - 2` fillers (the 1-rule set is the measured
 * rules alone, one rule per measured route).
 */
export function benchRules(count: number, upstream: string): RuleDoc[] {
  const rules = measuredRules(upstream);
  for (let i = 0; rules.length < count; i++) rules.push(fillerRule(i, upstream));
  return rules;
}

/** How many rules a set labelled `count` actually holds. */
export function ruleSetSize(count: number): number {
  return Math.max(count, measuredRules("http://x").length);
}

/** The label of a rule count in figure ids: `1`, `100`, `10k`. */
export function rulesLabel(count: number): string {
  return count >= 1000 && count % 1000 === 0 ? `${count / 1000}k` : String(count);
}
