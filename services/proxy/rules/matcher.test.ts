import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GatehouseError, InvalidArgumentError, NotFoundError } from "../../../common/errors.js";
import { cleanPath, createRuleMatcher, matchableUrl, MultipleRulesMatchedError } from "./matcher.js";
import type { AccessRule, MatchableRequest, MatchingStrategy } from "./rule.js";
import { compileUrlPattern, MAX_URL_PATTERN_LENGTH } from "./url-pattern.js";

function rule(
  id: string,
  url: string,
  methods: readonly string[] = ["GET"],
  extra: { priority?: number; headers?: Record<string, string> } = {},
): AccessRule {
  return {
    id,
    match: { url, methods, ...(extra.headers === undefined ? {} : { headers: extra.headers }) },
    authenticators: [{ handler: "noop" }],
    authorizers: [{ handler: "allow" }],
    mutators: [{ handler: "noop" }],
    errors: [],
    priority: extra.priority ?? 0,
  };
}

function req(method: string, url: string, headers: MatchableRequest["headers"] = {}): MatchableRequest {
  return { method, url, headers };
}

function outcome(fn: () => { rule: AccessRule }): string {
  try {
    return fn().rule.id;
  } catch (err) {
    if (err instanceof MultipleRulesMatchedError) return `500:${err.ruleIds.join(",")}`;
    if (err instanceof NotFoundError) return "404";
    throw err;
  }
}

describe("compileUrlPattern (regexp)", () => {
  it("matches Oathkeeper's example and returns the capture groups in order", () => {
    const p = compileUrlPattern("<https|http>://api.example.com/users/<[0-9]+>", "regexp");
    expect(p.exec("https://api.example.com/users/42")).toEqual(["https", "42"]);
    expect(p.exec("http://api.example.com/users/7")).toEqual(["http", "7"]);
    expect(p.test("http://api.example.com/users/abc")).toBe(false);
    expect(p.test("ftp://api.example.com/users/1")).toBe(false);
    expect(p.test("https://api.example.com/users/1/x")).toBe(false); // anchored at the end
    expect(p.schemes).toEqual(["https", "http"]);
    expect(p.host).toBe("api.example.com");
    expect(p.pathPrefix).toBe("/users/");
    expect(p.staticPrefix).toBe("");
    expect(p.staticPrefixes).toEqual(["https://api.example.com/users/", "http://api.example.com/users/"]);
  });

  it("includes groups nested inside a variable part and yields '' for a group that did not take part", () => {
    const p = compileUrlPattern("http://x/<(a)|(b)>/<c>", "regexp");
    expect(p.exec("http://x/b/c")).toEqual(["b", "", "b", "c"]);
  });

  it("treats regexp metacharacters outside <> literally", () => {
    const p = compileUrlPattern("http://api.example.com/a+b/(x)?/<.*>", "regexp");
    expect(p.test("http://api.example.com/a+b/(x)?/anything")).toBe(true);
    expect(p.test("http://apiXexample.com/a+b/(x)?/anything")).toBe(false);
    expect(p.test("http://api.example.com/aab/x/anything")).toBe(false);
    expect(p.host).toBe("api.example.com");
    expect(p.pathPrefix).toBe("/a+b/(x)?/");
  });

  it("nests delimiters as ladon does and rejects unbalanced ones", () => {
    const p = compileUrlPattern("http://x/<a<b>c>", "regexp");
    expect(p.exec("http://x/a<b>c")).toEqual(["a<b>c"]);
    expect(() => compileUrlPattern("http://x/<a", "regexp")).toThrow(InvalidArgumentError);
    expect(() => compileUrlPattern("http://x/a>", "regexp")).toThrow(InvalidArgumentError);
  });

  it("rejects a variable part that is not a regular expression on its own", () => {
    expect(() => compileUrlPattern("http://x/<a)|(b>", "regexp")).toThrow(/not a valid regular expression/);
    expect(() => compileUrlPattern("http://x/<[>", "regexp")).toThrow(InvalidArgumentError);
  });

  it("refuses overlong patterns", () => {
    const long = `http://x/${"a".repeat(MAX_URL_PATTERN_LENGTH)}`;
    expect(() => compileUrlPattern(long, "regexp")).toThrow(/longer than/);
  });

  it("reports literal patterns and parts", () => {
    const p = compileUrlPattern("https://h:8443/a/b", "regexp");
    expect(p.isLiteral).toBe(true);
    expect(p.test("https://h:8443/a/b")).toBe(true);
    expect(p.test("https://h:8443/a/bc")).toBe(false);
    expect([p.schemes, p.host, p.pathPrefix]).toEqual([["https"], "h:8443", "/a/b"]);
    const v = compileUrlPattern("https://<[a-z]+>.example.com/x", "regexp");
    expect([v.schemes, v.host, v.pathPrefix, v.staticPrefix]).toEqual([["https"], undefined, undefined, "https://"]);
    const o = compileUrlPattern("<https?>://h/x/<.*>", "regexp");
    expect(o.schemes).toEqual(["https", "http"]);
    const n = compileUrlPattern("<.*>://h/x", "regexp");
    expect([n.schemes, n.host, n.staticPrefixes]).toEqual([undefined, undefined, [""]]);
  });
});

describe("compileUrlPattern (glob, gobwas semantics with separators '.' and '/')", () => {
  it("* stays within a path segment or host label, ** crosses separators", () => {
    const one = compileUrlPattern("https://example.com/<*>", "glob");
    expect(one.test("https://example.com/users")).toBe(true);
    expect(one.test("https://example.com/")).toBe(true);
    expect(one.test("https://example.com/users/1")).toBe(false);
    expect(one.test("https://example.com/file.txt")).toBe(false); // '.' is a separator too
    const all = compileUrlPattern("https://example.com/<**>", "glob");
    expect(all.test("https://example.com/users/1/file.txt")).toBe(true);
    const host = compileUrlPattern("https://<*>.example.com/x", "glob");
    expect(host.test("https://api.example.com/x")).toBe(true);
    expect(host.test("https://a.b.example.com/x")).toBe(false);
  });

  it("supports ?, classes, ranges, negation and {a,b} alternatives; no captures", () => {
    const p = compileUrlPattern("<{https,http}>://h/v<[0-9]>/<?>/<[!.]>/<[abc]>", "glob");
    expect(p.exec("https://h/v1/x/y/b")).toEqual([]);
    expect(p.test("http://h/v9/x/-/a")).toBe(true);
    expect(p.test("http://h/vx/x/y/a")).toBe(false);
    expect(p.test("http://h/v1/xy/y/a")).toBe(false);
    expect(p.test("http://h/v1/x/./a")).toBe(false);
    expect(p.test("http://h/v1/x/y/d")).toBe(false);
    expect(p.schemes).toEqual(["https", "http"]);
    expect(p.host).toBe("h");
  });

  it("keeps glob metacharacters outside <> literal (glob.QuoteMeta)", () => {
    const p = compileUrlPattern("https://h/a*b/{x,y}/<*>", "glob");
    expect(p.test("https://h/a*b/{x,y}/z")).toBe(true);
    expect(p.test("https://h/aXb/{x,y}/z")).toBe(false);
    expect(p.test("https://h/a*b/x/z")).toBe(false);
    const dot = compileUrlPattern("https://api.example.com/<**>", "glob");
    expect(dot.test("https://apiXexample.com/x")).toBe(false);
  });

  it("rejects malformed globs", () => {
    expect(() => compileUrlPattern("https://h/<{a,b>", "glob")).toThrow(InvalidArgumentError);
    expect(() => compileUrlPattern("https://h/<[ab>", "glob")).toThrow(InvalidArgumentError);
    expect(() => compileUrlPattern("https://h/<[]>", "glob")).toThrow(InvalidArgumentError);
    expect(() => compileUrlPattern("https://h/<a\\>", "glob")).toThrow(InvalidArgumentError);
  });
});

describe("matchableUrl", () => {
  it("drops the query and fragment and cleans the path", () => {
    expect(matchableUrl("HTTPS", "h", "/a/../b?x=1#f")).toBe("https://h/b");
    expect(matchableUrl("http", "h", "//x")).toBe("http://h/x");
    expect(matchableUrl("http", "h", "/a/./b//c/")).toBe("http://h/a/b/c");
    expect(matchableUrl("http", "h", "/../../x")).toBe("http://h/x");
    expect(matchableUrl("http", "h", "")).toBe("http://h/");
    expect(matchableUrl("http", "h", "?q")).toBe("http://h/");
    expect(matchableUrl("http", "h:8080", "a/b")).toBe("http://h:8080/a/b");
  });

  it("percent-decodes the path before cleaning (Go's URL.Path)", () => {
    expect(matchableUrl("http", "h", "/public/%2e%2e/admin")).toBe("http://h/admin");
    expect(matchableUrl("http", "h", "/a%20b/%C3%A9")).toBe("http://h/a b/é");
    expect(() => matchableUrl("http", "h", "/a%zz")).toThrow(InvalidArgumentError);
  });

  it("rejects malformed schemes and hosts", () => {
    expect(() => matchableUrl("ht tp", "h", "/")).toThrow(InvalidArgumentError);
    expect(() => matchableUrl("http", "h/evil", "/")).toThrow(InvalidArgumentError);
  });

  it("cleanPath follows Go's path.Clean", () => {
    expect(cleanPath("")).toBe(".");
    expect(cleanPath("/")).toBe("/");
    expect(cleanPath("a/../..")).toBe("..");
    expect(cleanPath("/a/b/../../..")).toBe("/");
    expect(cleanPath("./a/")).toBe("a");
  });
});

describe("createRuleMatcher", () => {
  const rules = [
    rule("users", "<https|http>://api.example.com/users/<[0-9]+>", ["GET", "post"]),
    rule("catch-all", "http://example.com/<.*>", ["GET"]),
    rule("tenant", "https://api.example.com/tenant", ["GET"], { headers: { "X-Tenant": "acme" } }),
  ];
  const m = createRuleMatcher(rules, "regexp");

  it("matches and returns the capture groups", () => {
    const r = m.match(req("GET", matchableUrl("https", "api.example.com", "/users/42?expand=1")));
    expect(r.rule.id).toBe("users");
    expect(r.captures).toEqual(["https", "42"]);
    expect(m.match(req("GET", "http://example.com/a/b")).captures).toEqual(["a/b"]);
  });

  it("compares methods case-insensitively", () => {
    expect(m.match(req("POST", "http://api.example.com/users/1")).rule.id).toBe("users");
    expect(m.match(req("get", "http://api.example.com/users/1")).rule.id).toBe("users");
    expect(() => m.match(req("DELETE", "http://api.example.com/users/1"))).toThrow(NotFoundError);
  });

  it("matches the cleaned path", () => {
    expect(m.match(req("GET", matchableUrl("http", "api.example.com", "/x/../users/5"))).rule.id).toBe("users");
    expect(m.match(req("GET", matchableUrl("http", "api.example.com", "//users//5/"))).rule.id).toBe("users");
  });

  it("requires match.headers (name case-insensitive, exact value, any of several values)", () => {
    const url = "https://api.example.com/tenant";
    expect(m.match(req("GET", url, { "x-tenant": "acme" })).rule.id).toBe("tenant");
    expect(m.match(req("GET", url, { "x-tenant": ["other", "acme"] })).rule.id).toBe("tenant");
    expect(() => m.match(req("GET", url, { "x-tenant": "Acme" }))).toThrow(NotFoundError);
    expect(() => m.match(req("GET", url))).toThrow(NotFoundError);
  });

  it("does not let a literal '.' in the host match any character", () => {
    expect(() => m.match(req("GET", "http://exampleXcom/a"))).toThrow(NotFoundError);
    expect(() => m.match(req("GET", "https://apiXexample.com/users/1"))).toThrow(NotFoundError);
  });

  it("throws a 404-kind error with reason no_rule_matched", () => {
    try {
      m.match(req("GET", "https://nowhere.example/"));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as GatehouseError).reason).toBe("no_rule_matched");
    }
  });

  it("throws an internal (500) error naming the rule ids when several rules tie", () => {
    const amb = createRuleMatcher(
      [rule("first", "http://h/<.*>"), rule("second", "http://h/a/<[a-z]+>"), rule("other", "http://g/<.*>")],
      "regexp",
    );
    try {
      amb.match(req("GET", "http://h/a/b"));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(MultipleRulesMatchedError);
      const e = err as MultipleRulesMatchedError;
      expect(e.code).toBe("internal");
      expect(e.reason).toBe("multiple_rules_matched");
      expect(e.message).toContain('"first"');
      expect(e.message).toContain('"second"');
      expect(e.ruleIds).toEqual(["first", "second"]);
    }
  });

  it("resolves by priority: the highest wins, a tie at the top is ambiguous", () => {
    const p = createRuleMatcher(
      [
        rule("low", "http://h/<.*>", ["GET"], { priority: 0 }),
        rule("high", "http://h/a/<.*>", ["GET"], { priority: 5 }),
        rule("mid-a", "http://h/a/b/<.*>", ["GET"], { priority: 3 }),
        rule("mid-b", "<.*>/b/c", ["GET"], { priority: 3 }),
      ],
      "regexp",
    );
    expect(p.match(req("GET", "http://h/a/b/c")).rule.id).toBe("high");
    expect(p.match(req("GET", "http://h/z")).rule.id).toBe("low");
    const q = createRuleMatcher([rule("x", "http://h/<.*>", ["GET"], { priority: 1 }), rule("y", "<.*>", ["GET"], { priority: 1 })], "regexp");
    expect(() => q.match(req("GET", "http://h/"))).toThrow(MultipleRulesMatchedError);
  });

  it("uses glob semantics under the glob strategy (no captures)", () => {
    const g = createRuleMatcher(
      [rule("one", "https://example.com/<*>"), rule("deep", "https://example.com/files/<**>")],
      "glob",
    );
    const r = g.match(req("GET", "https://example.com/users"));
    expect(r.rule.id).toBe("one");
    expect(r.captures).toEqual([]);
    expect(g.match(req("GET", "https://example.com/files/a/b.txt")).rule.id).toBe("deep");
    expect(() => g.match(req("GET", "https://example.com/users/1"))).toThrow(NotFoundError);
  });

  it("rejects a rule with a bad pattern at construction, naming the rule", () => {
    expect(() => createRuleMatcher([rule("bad", "http://h/<(>")], "regexp")).toThrow(/rule "bad"/);
  });

  it("is frozen", () => {
    expect(Object.isFrozen(m)).toBe(true);
    expect(Object.isFrozen(m.rules)).toBe(true);
  });

  it("tries few candidates with 10,000 rules when few share the request's host", () => {
    const many: AccessRule[] = [];
    for (let h = 0; h < 2000; h++) {
      many.push(rule(`h${h}-users`, `https://host${h}.example.com/users/<[0-9]+>`, ["GET", "PUT"]));
      many.push(rule(`h${h}-any`, `<https|http>://host${h}.example.com/<.*>`, ["GET"]));
      many.push(rule(`h${h}-admin`, `https://host${h}.example.com/admin`, ["GET"]));
      many.push(rule(`h${h}-post`, `https://host${h}.example.com/users`, ["POST"]));
      many.push(rule(`h${h}-v2`, `https://host${h}.example.com/v2/<.*>`, ["GET"]));
    }
    many.push(rule("wild", "https://<[a-z0-9]+>.example.com/health", ["GET"], { priority: 1 }));
    expect(many.length).toBe(10_001);
    const big = createRuleMatcher(many, "regexp");
    const r = req("GET", "https://host1234.example.com/users/9");
    const cands = big.candidates(r).map((c) => c.id);
    expect(cands).toEqual(["h1234-users", "h1234-any", "wild"]);
    expect(() => big.match(r)).toThrow(MultipleRulesMatchedError);
    expect(big.candidates(req("GET", "https://host1234.example.com/admin")).length).toBeLessThanOrEqual(3);
    expect(big.match(req("GET", "https://host77.example.com/health")).rule.id).toBe("wild");
    expect(big.match(req("GET", "http://host77.example.com/users/1")).rule.id).toBe("h77-any");
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Property: the index returns what a naive linear scan returns.

function naiveMatch(rules: readonly AccessRule[], strategy: MatchingStrategy, r: MatchableRequest): string {
  const matches: AccessRule[] = [];
  for (const rl of rules) {
    if (!rl.match.methods.some((m) => m.toUpperCase() === r.method.toUpperCase())) continue;
    const headersOk = Object.entries(rl.match.headers ?? {}).every(([k, v]) => {
      const a = r.headers[k.toLowerCase()];
      return a !== undefined && (typeof a === "string" ? a === v : a.includes(v));
    });
    if (!headersOk) continue;
    if (compileUrlPattern(rl.match.url, strategy).test(r.url)) matches.push(rl);
  }
  if (matches.length === 0) return "404";
  const top = Math.max(...matches.map((x) => x.priority));
  const best = matches.filter((x) => x.priority === top);
  return best.length === 1 ? (best[0] as AccessRule).id : `500:${best.map((x) => x.id).join(",")}`;
}

const hosts = ["a.com", "b.com", "api.a.com", "a.com:8080"];
const requestHosts = ["a.com", "a.com", "b.com", "api.a.com", "a.com:8080", "other.com", "api.b.com"];
// "a.com" as a path segment: a variable host such as `<.*>.com` may match across the `/` before it.
const segs = ["users", "1", "12", "admin", "x.y", "a.com"];
const pathArb = fc.array(fc.constantFrom(...segs), { maxLength: 2 }).map((s) => `/${s.join("/")}`);

const regexpUrlArb = fc.oneof(
  fc.tuple(fc.constantFrom("http", "https"), fc.constantFrom(...hosts), pathArb).map(([s, h, p]) => `${s}://${h}${p}`),
  fc.tuple(fc.constantFrom("<https|http>", "<https?>", "<http>", "<[a-z]+>"), fc.constantFrom(...hosts), pathArb).map(
    ([s, h, p]) => `${s}://${h}${p}`,
  ),
  fc
    .tuple(
      fc.constantFrom("http", "https", "<https|http>"),
      fc.constantFrom(...hosts),
      pathArb,
      fc.constantFrom("<[0-9]+>", "<.*>", "<[a-z]*>", "<1|users>/<.+>"),
    )
    .map(([s, h, p, v]) => `${s}://${h}${p === "/" ? "/" : `${p}/`}${v}`),
  fc
    .tuple(fc.constantFrom("http", "https"), fc.constantFrom("<[a-z]+>.com", "<.*>", "api.<[a-z]>.com", "<[a-z.]+>", "<.*>.com", "<.*>.a.com:8080", "<[a-z]+>.<[a-z]+>.com"), pathArb)
    .map(([s, h, p]) => `${s}://${h}${p}`),
  fc.constantFrom("<.*>", "<.*>/users", "http<s?>://a.com/<.*>", "<.*>://a.com/users"),
);

const globUrlArb = fc.oneof(
  fc.tuple(fc.constantFrom("http", "https"), fc.constantFrom(...hosts), pathArb).map(([s, h, p]) => `${s}://${h}${p}`),
  fc
    .tuple(
      fc.constantFrom("http", "https", "<{https,http}>", "<http>", "<*>"),
      fc.constantFrom(...hosts, "<*>.com", "<**>", "api.<?>.com", "<**>.com", "<*>.a.com:8080"),
      pathArb,
      fc.constantFrom("", "/<*>", "/<**>", "/<?>", "/<[0-9]>", "/<{1,users}>", "<*>"),
    )
    .map(([s, h, p, v]) => `${s}://${h}${p}${v}`),
  fc.constantFrom("<**>", "<**>/users", "http<{s,}>://a.com/<**>"),
);

function rulesArb(urlArb: fc.Arbitrary<string>): fc.Arbitrary<AccessRule[]> {
  return fc
    .array(
      fc.record({
        url: urlArb,
        methods: fc.subarray(["GET", "POST", "get", "PUT"]),
        priority: fc.constantFrom(0, 0, 0, 1, 2),
        header: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
      }),
      { maxLength: 12 },
    )
    .map((specs) =>
      specs.map((s, i) =>
        rule(`r${i}`, s.url, s.methods, { priority: s.priority, ...(s.header ? { headers: { "X-T": "t1" } } : {}) }),
      ),
    );
}

const requestArb = fc
  .record({
    scheme: fc.constantFrom("http", "https"),
    host: fc.constantFrom(...requestHosts),
    path: pathArb,
    method: fc.constantFrom("GET", "GET", "get", "POST", "DELETE"),
    header: fc.constantFrom<string | undefined>(undefined, "t1", "t1", "t2"),
  })
  .map(
    (r): MatchableRequest =>
      req(r.method, matchableUrl(r.scheme, r.host, r.path), r.header === undefined ? {} : { "x-t": r.header }),
  );

describe("variable hosts", () => {
  it("files rules by the literal end of a variable host, and still finds matches that cross a `/`", () => {
    const rules = [
      rule("tenant", "https://<[a-z0-9-]+>.tenant.example.com/<.*>", ["GET"]),
      rule("loose", "http://<.*>.test/x", ["GET"]),
      ...Array.from({ length: 200 }, (_, i) => rule(`t${i}`, `https://<[a-z]+>.t${i}.example.com/<.*>`, ["GET"])),
    ];
    const m = createRuleMatcher(rules, "regexp");
    expect(m.match(req("GET", "https://acme.tenant.example.com/docs")).rule.id).toBe("tenant");
    expect(m.candidates(req("GET", "https://acme.tenant.example.com/docs")).map((r) => r.id)).toEqual(["tenant"]);
    expect(m.candidates(req("GET", "https://acme.other.example.com/docs"))).toEqual([]);
    // The regexp's `.*` matches "evil.com/a": as in Oathkeeper, the rule applies; the index must not hide it.
    expect(m.match(req("GET", "http://evil.com/a.test/x")).rule.id).toBe("loose");
  });
});

describe("property: the index agrees with a linear scan", () => {
  for (const [strategy, urlArb] of [
    ["regexp", regexpUrlArb],
    ["glob", globUrlArb],
  ] as const) {
    it(`${strategy}: same rule id or error kind`, () => {
      const seen = { one: 0, ambiguous: 0, none: 0 };
      fc.assert(
        fc.property(rulesArb(urlArb), fc.array(requestArb, { minLength: 1, maxLength: 8 }), (rules, requests) => {
          const matcher = createRuleMatcher(rules, strategy);
          for (const r of requests) {
            const expected = naiveMatch(rules, strategy, r);
            expect(outcome(() => matcher.match(r))).toBe(expected);
            // Stronger: every rule whose URL and method match is among the index's candidates.
            const cands = new Set(matcher.candidates(r).map((c) => c.id));
            for (const rl of rules) {
              const methodOk = rl.match.methods.some((m) => m.toUpperCase() === r.method.toUpperCase());
              if (methodOk && compileUrlPattern(rl.match.url, strategy).test(r.url)) expect(cands.has(rl.id)).toBe(true);
            }
            seen[expected === "404" ? "none" : expected.startsWith("500:") ? "ambiguous" : "one"]++;
          }
        }),
        { numRuns: 400 },
      );
      // The generators must exercise all three outcomes, not just "no rule".
      expect(seen.one).toBeGreaterThan(50);
      expect(seen.ambiguous).toBeGreaterThan(3);
      expect(seen.none).toBeGreaterThan(50);
    });
  }
});
