import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../common/errors.js";
import { parseRuleDocument, type KnownHandlers } from "./parse-rules.js";

/** The rule shape of the reference (Oathkeeper `rule/rule.go`), as JSON. */
const REFERENCE_JSON = `[
  {
    "id": "api-users",
    "version": "v0.40.9",
    "description": "Users API",
    "match": { "url": "<https|http>://api.example.com/users/<[0-9]+>", "methods": ["GET", "POST"] },
    "authenticators": [
      { "handler": "cookie_session", "config": { "check_session_url": "http://kratos:4433/sessions/whoami" } },
      { "handler": "anonymous" }
    ],
    "authorizer": { "handler": "remote_json", "config": { "remote": "http://keto:4466/check", "payload": "{}" } },
    "mutators": [ { "handler": "id_token", "config": { "ttl": "60s" } } ],
    "errors": [ { "handler": "redirect", "config": { "to": "https://login.example.com", "when": [] } } ],
    "upstream": { "url": "http://backend:8080", "preserve_host": false, "strip_path": "/api" }
  }
]`;

const REFERENCE_YAML = `
# the same rule, as YAML
- id: api-users
  version: v0.40.9
  description: Users API
  match:
    url: <https|http>://api.example.com/users/<[0-9]+>
    methods: [get, Post]
  authenticators:
    - handler: cookie_session
      config:
        check_session_url: http://kratos:4433/sessions/whoami
    - handler: anonymous
  authorizer:
    handler: remote_json
    config:
      remote: http://keto:4466/check
      payload: "{}"
  mutators:
    - handler: id_token
      config:
        ttl: 60s
  errors:
    - handler: redirect
      config:
        to: https://login.example.com
        when: []
  upstream:
    url: http://backend:8080
    preserve_host: false
    strip_path: /api
`;

const KNOWN: KnownHandlers = {
  authenticators: ["anonymous", "cookie_session", "noop", "jwt"],
  authorizers: ["allow", "deny", "remote_json"],
  mutators: ["noop", "header", "id_token"],
  errors: ["json", "redirect"],
};

/** A minimal valid rule as an object, to be varied by the tests. */
function rule(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: "r1",
    match: { url: "https://api.example.com/<.*>", methods: ["GET"] },
    authenticators: [{ handler: "anonymous" }],
    authorizer: { handler: "allow" },
    ...overrides,
  };
}

function parseJson(rules: unknown[], options: Parameters<typeof parseRuleDocument>[2] = {}) {
  return parseRuleDocument(JSON.stringify(rules, null, 2), "rules.json", options);
}

function errorOf(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error("expected an error");
}

describe("parseRuleDocument: valid documents", () => {
  it("reads the reference rule in JSON", () => {
    const [r, ...rest] = parseRuleDocument(REFERENCE_JSON, "rules.json");
    expect(rest).toEqual([]);
    expect(r).toEqual({
      id: "api-users",
      version: "v0.40.9",
      description: "Users API",
      match: { url: "<https|http>://api.example.com/users/<[0-9]+>", methods: ["GET", "POST"] },
      authenticators: [
        { handler: "cookie_session", config: { check_session_url: "http://kratos:4433/sessions/whoami" } },
        { handler: "anonymous" },
      ],
      authorizers: [{ handler: "remote_json", config: { remote: "http://keto:4466/check", payload: "{}" } }],
      mutators: [{ handler: "id_token", config: { ttl: "60s" } }],
      errors: [{ handler: "redirect", config: { to: "https://login.example.com", when: [] } }],
      upstream: { url: "http://backend:8080", preserve_host: false, strip_path: "/api" },
      priority: 0,
    });
  });

  it("reads the same rule in YAML (methods normalised to upper case)", () => {
    expect(parseRuleDocument(REFERENCE_YAML, "rules.yaml", { knownHandlers: KNOWN })).toEqual(
      parseRuleDocument(REFERENCE_JSON, "rules.json", { knownHandlers: KNOWN }),
    );
  });

  it("fills in defaults: noop mutator, no error handlers, priority 0, no upstream", () => {
    const [r] = parseJson([rule()]);
    expect(r?.mutators).toEqual([{ handler: "noop" }]);
    expect(r?.errors).toEqual([]);
    expect(r?.priority).toBe(0);
    expect(r?.upstream).toBeUndefined();
    expect(r && "version" in r).toBe(false);
  });

  it("treats an empty mutators list like a missing one", () => {
    expect(parseJson([rule({ mutators: [] })])[0]?.mutators).toEqual([{ handler: "noop" }]);
  });

  it("accepts Gatehouse's authorizers list, priority and match.headers", () => {
    const [r] = parseJson([
      rule({
        authorizer: undefined,
        authorizers: [{ handler: "allow" }, { handler: "remote_json", config: { remote: "http://keto" } }],
        priority: 5,
        match: { url: "http://<.*>.example.com/v1", methods: ["delete"], headers: { "X-Api-Version": "2" } },
      }),
    ]);
    expect(r?.authorizers.map((a) => a.handler)).toEqual(["allow", "remote_json"]);
    expect(r?.priority).toBe(5);
    expect(r?.match).toEqual({ url: "http://<.*>.example.com/v1", methods: ["DELETE"], headers: { "x-api-version": "2" } });
  });

  it("makes Oathkeeper's single authorizer a one-element list", () => {
    expect(parseJson([rule()])[0]?.authorizers).toEqual([{ handler: "allow" }]);
  });

  it("reads an empty document and an empty list as no rules", () => {
    expect(parseRuleDocument("", "empty.yaml")).toEqual([]);
    expect(parseRuleDocument("# nothing yet\n", "empty.yaml")).toEqual([]);
    expect(parseRuleDocument("[]", "empty.json")).toEqual([]);
  });

  it("ignores unknown fields (as Oathkeeper does) but reports them", () => {
    const warnings: string[] = [];
    const [r] = parseJson([rule({ authorizor: { handler: "deny" }, match: { url: "https://a.example/", methods: ["GET"], hosts: [] } })], {
      onWarning: (m) => warnings.push(m),
    });
    expect(r?.authorizers).toEqual([{ handler: "allow" }]);
    expect(warnings).toEqual([
      'rules.json: rule "r1" (index 0): unknown field "authorizor" ignored',
      'rules.json: rule "r1" (index 0): match: unknown field "hosts" ignored',
    ]);
  });

  it("takes YAML numbers for string fields as text (as ghodss/yaml)", () => {
    const [r] = parseRuleDocument(
      "- id: 12\n  version: 1\n  match: { url: 'https://a.example/', methods: [GET], headers: { x-v: 2 } }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n",
      "r.yaml",
    );
    expect(r?.id).toBe("12");
    expect(r?.version).toBe("1");
    expect(r?.match.headers).toEqual({ "x-v": "2" });
  });

  it("loads JSON-looking text that is only valid YAML (trailing comma), as Oathkeeper falls back to YAML", () => {
    const text = `[{"id": "a", "match": {"url": "https://a.example/", "methods": ["GET"]}, "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},}]`;
    expect(parseRuleDocument(text, "a.json")[0]?.id).toBe("a");
  });

  it("loads YAML flow syntax that starts like JSON", () => {
    const text = "[{id: a, match: {url: 'https://a.example/', methods: [GET]}, authenticators: [{handler: noop}], authorizer: {handler: allow}}]";
    expect(parseRuleDocument(text, "a.yaml")[0]?.match.methods).toEqual(["GET"]);
  });

  it("returns frozen rules, including handler config", () => {
    const [r] = parseRuleDocument(REFERENCE_JSON, "rules.json");
    expect(Object.isFrozen(r)).toBe(true);
    expect(Object.isFrozen(r?.match.methods)).toBe(true);
    expect(Object.isFrozen(r?.authenticators[0]?.config)).toBe(true);
    expect(Object.isFrozen((r?.errors[0]?.config as { when: unknown }).when)).toBe(true);
  });

  it("accepts known handler names", () => {
    expect(parseRuleDocument(REFERENCE_YAML, "rules.yaml", { knownHandlers: KNOWN })).toHaveLength(1);
  });

  it("drops an upstream without url (decision API only)", () => {
    expect(parseJson([rule({ upstream: { preserve_host: true } })])[0]?.upstream).toBeUndefined();
  });
});

describe("parseRuleDocument: validation errors name file, rule and field", () => {
  const cases: { name: string; rule: Record<string, unknown>; field: string; message: string }[] = [
    { name: "id not a string", rule: rule({ id: 5 }), field: "id", message: "must be a string" },
    { name: "empty id", rule: rule({ id: " " }), field: "id", message: "non-empty string" },
    { name: "match missing", rule: rule({ match: undefined }), field: "match", message: "is required" },
    { name: "match a string", rule: rule({ match: "https://a" }), field: "match", message: "must be an object" },
    { name: "url missing", rule: rule({ match: { methods: ["GET"] } }), field: "match.url", message: "is required" },
    { name: "url relative", rule: rule({ match: { url: "/users", methods: ["GET"] } }), field: "match.url", message: "must be an absolute http(s) URL pattern" },
    { name: "url ftp", rule: rule({ match: { url: "ftp://a.example/", methods: ["GET"] } }), field: "match.url", message: "must be an absolute http(s) URL pattern" },
    { name: "url without host", rule: rule({ match: { url: "https:///x", methods: ["GET"] } }), field: "match.url", message: "must be an absolute" },
    { name: "url unbalanced", rule: rule({ match: { url: "https://a.example/<[0-9]+", methods: ["GET"] } }), field: "match.url", message: "unbalanced" },
    { name: "methods not a list", rule: rule({ match: { url: "https://a.example/", methods: "GET" } }), field: "match.methods", message: "must be a list" },
    { name: "unknown method", rule: rule({ match: { url: "https://a.example/", methods: ["GET", "FETCH"] } }), field: "match.methods[1]", message: 'unknown HTTP method "FETCH"' },
    { name: "method not a string", rule: rule({ match: { url: "https://a.example/", methods: [1] } }), field: "match.methods[0]", message: "must be an HTTP method name" },
    { name: "headers a list", rule: rule({ match: { url: "https://a.example/", methods: ["GET"], headers: ["x"] } }), field: "match.headers", message: "must be an object" },
    { name: "header value not a string", rule: rule({ match: { url: "https://a.example/", methods: ["GET"], headers: { "x-v": 2 } } }), field: "match.headers.x-v", message: "must be a string" },
    { name: "gRPC match", rule: rule({ match: { authority: "a", full_method: "pkg.Svc/M" } }), field: "match.full_method", message: "not supported" },
    { name: "no authenticators", rule: rule({ authenticators: undefined }), field: "authenticators", message: "at least one authenticator" },
    { name: "empty authenticators", rule: rule({ authenticators: [] }), field: "authenticators", message: "at least one authenticator" },
    { name: "authenticators an object", rule: rule({ authenticators: { handler: "noop" } }), field: "authenticators", message: "must be a list" },
    { name: "handler missing", rule: rule({ authenticators: [{ handler: "noop" }, { config: {} }] }), field: "authenticators[1].handler", message: "is required" },
    { name: "config a list", rule: rule({ authenticators: [{ handler: "jwt", config: [] }] }), field: "authenticators[0].config", message: "must be an object" },
    { name: "config a string", rule: rule({ mutators: [{ handler: "header", config: "x" }] }), field: "mutators[0].config", message: "must be an object" },
    { name: "no authorizer", rule: rule({ authorizer: undefined }), field: "authorizer", message: "needs an authorizer, e.g." },
    { name: "empty authorizers", rule: rule({ authorizer: undefined, authorizers: [] }), field: "authorizers", message: "needs an authorizer" },
    { name: "both authorizer forms", rule: rule({ authorizers: [{ handler: "deny" }] }), field: "authorizers", message: "not both" },
    { name: "authorizer handler empty", rule: rule({ authorizer: { handler: "" } }), field: "authorizer.handler", message: "is required" },
    { name: "authorizer a list", rule: rule({ authorizer: [{ handler: "allow" }] }), field: "authorizer", message: "must be an object" },
    { name: "errors not a list", rule: rule({ errors: { handler: "json" } }), field: "errors", message: "must be a list" },
    { name: "upstream url relative", rule: rule({ upstream: { url: "backend:8080/api" } }), field: "upstream.url", message: "must be an absolute http(s) URL" },
    { name: "upstream url not http", rule: rule({ upstream: { url: "ftp://backend" } }), field: "upstream.url", message: "must be an absolute http(s) URL" },
    { name: "preserve_host not boolean", rule: rule({ upstream: { url: "http://b", preserve_host: "yes" } }), field: "upstream.preserve_host", message: "true or false" },
    { name: "strip_path not a string", rule: rule({ upstream: { url: "http://b", strip_path: 1 } }), field: "upstream.strip_path", message: "must be a string" },
    { name: "priority fractional", rule: rule({ priority: 1.5 }), field: "priority", message: "whole number" },
    { name: "priority a string", rule: rule({ priority: "high" }), field: "priority", message: "whole number" },
    { name: "version a number in JSON", rule: rule({ version: 1 }), field: "version", message: "must be a string" },
    { name: "description an object", rule: rule({ description: {} }), field: "description", message: "must be a string" },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const good = rule({ id: "first" });
      const error = errorOf(() => parseJson([good, c.rule]));
      const ruleName = c.field === "id" ? "rule at index 1" : 'rule "r1" (index 1)';
      expect(error.message).toContain(`rules.json: ${ruleName}: ${c.field}: `);
      expect(error.message).toContain(c.message);
      expect(error.details.field).toBe(c.field);
      expect(error.details["file"]).toBe("rules.json");
      expect(error.details["ruleIndex"]).toBe(1);
      if (c.field !== "id") expect(error.details["ruleId"]).toBe("r1");
      expect(error.details.line).toBeGreaterThan(1);
    });
  }

  it("uses the exact message form of the brief", () => {
    const rules = [rule({ id: "a" }), rule({ id: "b" }), rule({ id: "api-users", match: { url: "api.example.com/users", methods: ["GET"] } })];
    const error = errorOf(() => parseRuleDocument(JSON.stringify(rules), "rules.yaml"));
    expect(error.message).toMatch(/^rules\.yaml: rule "api-users" \(index 2\): match\.url: must be an absolute http\(s\) URL pattern/);
  });

  it("names the rule by index when its id is missing", () => {
    const error = errorOf(() => parseJson([rule(), rule({ id: undefined })]));
    expect(error.message).toBe("rules.json: rule at index 1: id: is required and must be a non-empty string");
    expect(error.details.field).toBe("id");
    expect(error.details["ruleId"]).toBeUndefined();
  });

  it("refuses duplicate ids within a document", () => {
    const error = errorOf(() => parseJson([rule({ id: "x" }), rule({ id: "y" }), rule({ id: "x" })]));
    expect(error.message).toBe('rules.json: rule "x" (index 2): id: duplicate id, already used by the rule at index 0');
    expect(error.details.field).toBe("id");
  });

  it("checks handler names against knownHandlers and lists the known ones", () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [rule({ authenticators: [{ handler: "anonymous" }, { handler: "oauth2_introspection" }] }), "authenticators[1].handler", 'unknown authenticator "oauth2_introspection" (known: anonymous, cookie_session, jwt, noop)'],
      [rule({ authorizer: { handler: "keto_engine_acp_ory" } }), "authorizer.handler", 'unknown authorizer "keto_engine_acp_ory" (known: allow, deny, remote_json)'],
      [rule({ authorizer: undefined, authorizers: [{ handler: "allow" }, { handler: "opa" }] }), "authorizers[1].handler", 'unknown authorizer "opa" (known: allow, deny, remote_json)'],
      [rule({ mutators: [{ handler: "hydrator" }] }), "mutators[0].handler", 'unknown mutator "hydrator" (known: header, id_token, noop)'],
      [rule({ errors: [{ handler: "www_authenticate" }] }), "errors[0].handler", 'unknown error handler "www_authenticate" (known: json, redirect)'],
    ];
    for (const [r, field, message] of cases) {
      const error = errorOf(() => parseJson([r], { knownHandlers: KNOWN }));
      expect(error.message).toBe(`rules.json: rule "r1" (index 0): ${field}: ${message}`);
      expect(error.details.field).toBe(field);
    }
  });

  it("refuses an element that is not an object", () => {
    const error = errorOf(() => parseJson([rule(), "r2"]));
    expect(error.message).toBe('rules.json: rule at index 1: must be an object, got "r2"');
  });

  it("refuses a top-level object (Oathkeeper files hold a list)", () => {
    const error = errorOf(() => parseRuleDocument(JSON.stringify(rule()), "one.json"));
    expect(error.message).toBe("one.json: must be a list of access rules (Oathkeeper's format), got an object");
  });

  it("reports the line of the offending field in YAML", () => {
    const text = REFERENCE_YAML.replace("url: http://backend:8080", "url: backend:8080");
    const error = errorOf(() => parseRuleDocument(text, "rules.yaml"));
    expect(error.message).toContain('rules.yaml: rule "api-users" (index 0): upstream.url: must be an absolute http(s) URL');
    const line = text.split("\n").findIndex((l) => l.includes("url: backend:8080")) + 1;
    expect(error.details.line).toBe(line);
  });
});

describe("parseRuleDocument: syntax errors", () => {
  it("gives JSON syntax errors a JSON-style message with line and column", () => {
    const text = '[\n  {\n    "id": "a",\n    "match": }\n]\n';
    const error = errorOf(() => parseRuleDocument(text, "rules.json"));
    expect(error.message).toMatch(/^rules\.json: invalid JSON at line 4, column 14: /);
    expect(error.details).toMatchObject({ file: "rules.json", line: 4, column: 14 });
  });

  it("reports an unterminated JSON document at its end", () => {
    const error = errorOf(() => parseRuleDocument('[{"id": "a"', "rules.json"));
    expect(error.message).toMatch(/^rules\.json: invalid JSON at line 1, column 12: /);
  });

  it("gives YAML syntax errors a YAML message with line and column", () => {
    const text = "- id: a\n  match:\n    url: [unclosed\n  authorizer: { handler: allow }\n";
    const error = errorOf(() => parseRuleDocument(text, "rules.yaml"));
    expect(error.message).toMatch(/^rules\.yaml: invalid YAML at line \d+, column \d+: /);
    expect(error.details.line).toBeGreaterThanOrEqual(3);
  });

  it("refuses duplicate keys in YAML", () => {
    const error = errorOf(() => parseRuleDocument("- id: a\n  id: b\n", "rules.yaml"));
    expect(error.message).toMatch(/^rules\.yaml: invalid YAML at line 2, column 3: /);
  });
});
