import { describe, expect, it } from "vitest";
import { GatehouseError } from "../../../common/errors.js";
import { parseRuleDocument } from "../rules/parse-rules.js";
import { ConfigReader } from "./config-reader.js";
import { errorHandlerFactories } from "./error-handlers/error-handlers.js";
import { ForbiddenError, NotResponsibleError, UnauthorizedError } from "./errors.js";
import type { PipelineSettings } from "./handler-settings.js";
import { createAccessPipeline, prepareRuleSet, type HandlerRegistry, type PreparedRuleSet } from "./pipeline.js";
import type { Decision, HandlerFactory, PipelineRequest, PreparedAuthenticator, PreparedAuthorizer, PreparedMutator } from "./types.js";

/** Test handlers whose behaviour comes from their config, recording the order they ran in. */
function registry(trace: string[]): HandlerRegistry {
  const authenticator = (name: string): HandlerFactory<PreparedAuthenticator> => ({
    name,
    prepare(config, context) {
      const reader = new ConfigReader(config, context.where);
      const outcome = reader.oneOf("outcome", ["ok", "pass", "fail", "crash"]) ?? "ok";
      const subject = reader.string("subject") ?? name;
      return {
        async authenticate(_request, session) {
          trace.push(`authn:${name}`);
          if (outcome === "pass") throw new NotResponsibleError();
          if (outcome === "fail") throw new UnauthorizedError();
          if (outcome === "crash") throw new Error("handler bug with secret token abc");
          session.subject = subject;
        },
      };
    },
  });
  const authorizer = (name: string, allow: boolean): HandlerFactory<PreparedAuthorizer> => ({
    name,
    prepare: () => ({
      async authorize(_request, session) {
        trace.push(`authz:${name}:${session.subject}`);
        if (!allow) throw new ForbiddenError();
      },
    }),
  });
  const setHeader: HandlerFactory<PreparedMutator> = {
    name: "set",
    prepare(config, context) {
      const reader = new ConfigReader(config, context.where);
      const name = reader.requiredString("name");
      return {
        async mutate(_request, session) {
          trace.push(`mutate:${name}`);
          session.header[name] = `${session.subject}|${session.matchContext.regexpCaptureGroups.join(",")}`;
        },
      };
    },
  };
  return {
    authenticators: [authenticator("a"), authenticator("b"), authenticator("c")],
    authorizers: [authorizer("yes", true), authorizer("no", false), authorizer("yes2", true)],
    mutators: [setHeader, { name: "noop", prepare: () => ({ mutate: async () => {} }) }],
    errors: errorHandlerFactories,
  };
}

const enabled = (names: string[], config: Record<string, Record<string, unknown>> = {}) =>
  Object.fromEntries(names.map((n) => [n, { enabled: true, config: config[n] ?? {} }]));

const settings: PipelineSettings = {
  authenticators: enabled(["a", "b", "c"]),
  authorizers: enabled(["yes", "no", "yes2"]),
  mutators: enabled(["set", "noop"], { set: { name: "X-Default" } }),
  errors: enabled(["json", "redirect", "www_authenticate"]),
  errorsFallback: ["json"],
};

function build(rulesYaml: string, trace: string[], custom: Partial<PipelineSettings> = {}) {
  const rules = parseRuleDocument(rulesYaml, "rules.yaml");
  const set = prepareRuleSet(rules, { settings: { ...settings, ...custom }, registry: registry(trace), strategy: "regexp" });
  const logs: string[] = [];
  const observed: Decision[] = [];
  const pipeline = createAccessPipeline({ ruleSet: () => set, log: (l) => logs.push(l), onDecision: (d) => observed.push(d) });
  return { pipeline, logs, observed, set: set as PreparedRuleSet };
}

function request(url: string, headers: Record<string, string> = {}, method = "GET"): PipelineRequest {
  return { method, url: new URL(url), headers, remoteAddress: "192.0.2.10" };
}

describe("access pipeline", () => {
  it("tries authenticators in order until one is responsible, then runs every authorizer and the mutators", async () => {
    const trace: string[] = [];
    const { pipeline } = build(
      `- id: docs
  match: { url: "http://api.test/docs/<[0-9]+>", methods: [GET] }
  authenticators: [{ handler: a, config: { outcome: pass } }, { handler: b }, { handler: c }]
  authorizers: [{ handler: yes }, { handler: yes2 }]
  mutators: [{ handler: set, config: { name: X-User } }]`,
      trace,
    );
    const decision = await pipeline.decide(request("http://api.test/docs/42"));
    expect(decision.kind).toBe("allow");
    if (decision.kind !== "allow") return;
    expect(decision.rule.id).toBe("docs");
    expect(decision.headers).toEqual({ "X-User": "b|42" });
    expect(trace).toEqual(["authn:a", "authn:b", "authz:yes:b", "authz:yes2:b", "mutate:X-User"]);
  });

  it("denies with 401 when no authenticator is responsible", async () => {
    const trace: string[] = [];
    const { pipeline } = build(
      `- id: r
  match: { url: "http://api.test/<.*>", methods: [GET] }
  authenticators: [{ handler: a, config: { outcome: pass } }, { handler: b, config: { outcome: pass } }]
  authorizer: { handler: yes }`,
      trace,
    );
    const decision = await pipeline.decide(request("http://api.test/x"));
    expect(decision.kind).toBe("deny");
    if (decision.kind !== "deny") return;
    expect(decision.response.status).toBe(401);
    expect(JSON.parse(decision.response.body)).toMatchObject({ error: { code: 401, status: "Unauthorized" } });
    expect(trace).toEqual(["authn:a", "authn:b"]);
  });

  it("stops at the first authenticator that fails (no fall-through to later ones)", async () => {
    const trace: string[] = [];
    const { pipeline } = build(
      `- id: r
  match: { url: "http://api.test/<.*>", methods: [GET] }
  authenticators: [{ handler: a, config: { outcome: fail } }, { handler: b }]
  authorizer: { handler: yes }`,
      trace,
    );
    const decision = await pipeline.decide(request("http://api.test/x"));
    expect(decision.kind === "deny" && decision.response.status).toBe(401);
    expect(trace).toEqual(["authn:a"]);
  });

  it("requires every authorizer to allow: one refusal is 403 and later authorizers and mutators do not run", async () => {
    const trace: string[] = [];
    const { pipeline } = build(
      `- id: r
  match: { url: "http://api.test/<.*>", methods: [GET] }
  authenticators: [{ handler: a }]
  authorizers: [{ handler: yes }, { handler: no }, { handler: yes2 }]`,
      trace,
    );
    const decision = await pipeline.decide(request("http://api.test/x"));
    expect(decision.kind === "deny" && decision.response.status).toBe(403);
    expect(trace).toEqual(["authn:a", "authz:yes:a", "authz:no:a"]);
  });

  it("answers 404 through the fallback handler when no rule matches, and 500 when two rules tie", async () => {
    const { pipeline } = build(
      `- id: one
  match: { url: "http://api.test/<.*>", methods: [GET] }
  authenticators: [{ handler: a }]
  authorizer: { handler: yes }
- id: two
  match: { url: "http://api.test/<[a-z]+>", methods: [GET] }
  authenticators: [{ handler: a }]
  authorizer: { handler: yes }`,
      [],
    );
    const none = await pipeline.decide(request("http://other.test/x"));
    expect(none.kind === "deny" && none.response.status).toBe(404);
    expect(none.rule).toBeUndefined();
    const tie = await pipeline.decide(request("http://api.test/abc"));
    expect(tie.kind === "deny" && tie.response.status).toBe(500);
    expect(tie.kind === "deny" && tie.response.body).toContain("multiple rules");
  });

  it("hides unexpected handler errors from the client but logs them with the rule id", async () => {
    const { pipeline, logs } = build(
      `- id: buggy
  match: { url: "http://api.test/<.*>", methods: [GET] }
  authenticators: [{ handler: a, config: { outcome: crash } }]
  authorizer: { handler: yes }`,
      [],
    );
    const decision = await pipeline.decide(request("http://api.test/x"));
    expect(decision.kind === "deny" && decision.response.status).toBe(500);
    expect(decision.kind === "deny" && decision.response.body).not.toContain("abc");
    expect(logs.some((l) => l.includes('rule "buggy"') && l.includes("handler bug"))).toBe(true);
  });

  it("chooses the rule's first error handler whose `when` selects the error, else the fallback", async () => {
    const { pipeline } = build(
      `- id: r
  match: { url: "http://api.test/<.*>", methods: [GET] }
  authenticators: [{ handler: a, config: { outcome: fail } }]
  authorizer: { handler: yes }
  errors:
    - handler: redirect
      config:
        to: https://login.test/
        return_to_query_param: return_to
        when:
          - error: [unauthorized]
            request: { header: { accept: [text/html] } }
    - handler: www_authenticate
      config: { realm: api, when: [{ error: [unauthorized], request: { header: { accept: [application/json] } } }] }`,
      [],
    );
    const browser = await pipeline.decide(request("http://api.test/page?x=1", { accept: "text/html,application/xhtml+xml,*/*;q=0.8" }));
    expect(browser.kind === "deny" && browser.response.status).toBe(302);
    expect(browser.kind === "deny" && browser.response.headers["location"]).toBe("https://login.test/?return_to=http%3A%2F%2Fapi.test%2Fpage%3Fx%3D1");
    const api = await pipeline.decide(request("http://api.test/x", { accept: "application/json" }));
    expect(api.kind === "deny" && api.response.status).toBe(401);
    expect(api.kind === "deny" && api.response.headers["www-authenticate"]).toBe('Basic realm="api"');
    const other = await pipeline.decide(request("http://api.test/x", { accept: "image/png" }));
    expect(other.kind === "deny" && other.response.status).toBe(401);
    expect(other.kind === "deny" && other.response.headers["content-type"]).toContain("application/json");
  });

  it("refuses a rule set naming a disabled handler or a bad handler config, naming rule, handler and key", () => {
    const rules = parseRuleDocument(
      `- id: r
  match: { url: "http://api.test/<.*>", methods: [GET] }
  authenticators: [{ handler: a }]
  authorizer: { handler: yes }
  mutators: [{ handler: set, config: { name: 7 } }]`,
      "rules.yaml",
    );
    const prepare = (s: PipelineSettings) => () => prepareRuleSet(rules, { settings: s, registry: registry([]), strategy: "regexp" });
    expect(prepare({ ...settings, authenticators: { ...settings.authenticators, a: { enabled: false, config: {} } } })).toThrow(
      /rule "r" authenticators\[0\] \(a\): the authenticator "a" is not enabled \(set authenticators\.a\.enabled: true/,
    );
    expect(prepare(settings)).toThrow(/rule "r" mutators\[0\] \(set\): config\.name must be a string/);
  });

  it("merges a rule's handler config over the global one", async () => {
    const trace: string[] = [];
    const { pipeline } = build(
      `- id: r
  match: { url: "http://api.test/<.*>", methods: [GET] }
  authenticators: [{ handler: a }]
  authorizer: { handler: yes }
  mutators: [{ handler: set }]`,
      trace,
    );
    const decision = await pipeline.decide(request("http://api.test/x"));
    expect(decision.kind === "allow" && decision.headers).toEqual({ "X-Default": "a|x" });
  });

  it("reports every decision to the observer", async () => {
    const { pipeline, observed } = build(
      `- id: r
  match: { url: "http://api.test/<.*>", methods: [GET] }
  authenticators: [{ handler: a }]
  authorizer: { handler: yes }`,
      [],
    );
    await pipeline.decide(request("http://api.test/x"));
    await pipeline.decide(request("http://api.test/x", {}, "POST"));
    expect(observed.map((d) => [d.kind, d.rule?.id])).toEqual([
      ["allow", "r"],
      ["deny", undefined],
    ]);
    expect(observed[1]?.kind === "deny" && observed[1].error).toBeInstanceOf(GatehouseError);
  });
});
