import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { GatehouseError, InvalidArgumentError } from "../../../common/errors.js";
import { MAX_TEMPLATE_OUTPUT, TemplateExecutionError, compileTemplate, templateDataOf } from "./template.js";
import type { AuthenticationSession } from "./types.js";

function makeSession(): AuthenticationSession {
  return {
    subject: "alice",
    extra: {
      email: "alice@example.com",
      roles: ["admin", "dev"],
      admin: true,
      zero: 0,
      empty: "",
      none: null,
      count: 3,
      pi: 3.14159,
      big: 1234567.5,
      nested: { int: 10, bool: true, list: [1, "two", null] },
      "example.com/claims": ["Foo", "Bar"],
      constructor: "own key",
    },
    header: { "x-existing": "yes" },
    matchContext: {
      regexpCaptureGroups: ["users", "42"],
      url: new URL("https://api.example.com:8443/users/42%2Fx?id=7&id=8&q=a+b#top"),
      method: "GET",
      header: { "x-api-version": "v2", accept: ["text/html", "application/json"] },
    },
  };
}

const render = (source: string, data: unknown = templateDataOf(makeSession())): string => compileTemplate(source, "test").render(data);

function compileError(source: string): InvalidArgumentError {
  try {
    compileTemplate(source, 'rule "r1" mutators[0] (header): config.headers.X');
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error(`expected ${JSON.stringify(source)} not to compile`);
}

function executionError(source: string, data: unknown = templateDataOf(makeSession())): TemplateExecutionError {
  const template = compileTemplate(source, 'rule "r1" config.payload');
  try {
    template.render(data);
  } catch (err) {
    expect(err).toBeInstanceOf(TemplateExecutionError);
    return err as TemplateExecutionError;
  }
  throw new Error(`expected ${JSON.stringify(source)} to fail`);
}

describe("compileTemplate: Oathkeeper-style templates", () => {
  it.each([
    ["{{ print .Subject }}", "alice"],
    ["user:{{ .Subject }}", "user:alice"],
    ["{{ .Extra.email }}", "alice@example.com"],
    ["{{ printIndex .MatchContext.RegexpCaptureGroups 1 }}", "42"],
    ["{{ printIndex .MatchContext.RegexpCaptureGroups 5 }}", ""],
    ["{{ printIndex .Extra.missing 0 }}", ""],
    ["{{ printIndex .Extra.email 0 }}", ""],
    ['{{ .MatchContext.Header.Get "X-Api-Version" }}', "v2"],
    ['{{ .MatchContext.Header.Get "x-api-version" }}', "v2"],
    ['{{ .MatchContext.Header.Get "Accept" }}', "text/html"],
    ['{{ .MatchContext.Header.Get "X-Absent" }}', ""],
    ['{{ .MatchContext.Header.Values "Accept" }}', "[text/html application/json]"],
    ['{{ .MatchContext.URL.Query.Get "id" }}', "7"],
    ['{{ .MatchContext.URL.Query.Get "q" }}', "a b"],
    ['{{ .MatchContext.URL.Query.Get "nope" }}', ""],
    ["{{ .MatchContext.URL.Scheme }}|{{ .MatchContext.URL.Host }}|{{ .MatchContext.URL.Path }}", "https|api.example.com:8443|/users/42/x"],
    ["{{ .MatchContext.URL.RawQuery }}|{{ .MatchContext.URL.Fragment }}", "id=7&id=8&q=a+b|top"],
    ["{{ .MatchContext.URL.String }}", "https://api.example.com:8443/users/42%2Fx?id=7&id=8&q=a+b#top"],
    ["{{ .MatchContext.URL }}", "https://api.example.com:8443/users/42%2Fx?id=7&id=8&q=a+b#top"],
    ["{{ .MatchContext.URL.Hostname }}:{{ .MatchContext.URL.Port }}", "api.example.com:8443"],
    ["{{ .MatchContext.Method }}", "GET"],
    ['{{ .Header.Get "X-Existing" }}', "yes"],
    ['{{ index .Extra "roles" }}', "[admin dev]"],
    ['{{ index .Extra "roles" 1 }}', "dev"],
    ['{{ index .Extra "nested" "list" 1 }}', "two"],
    ['{{- (index .Extra "example.com/claims") | join "," -}}', "Foo,Bar"],
    ["{{ if .Extra.admin }}yes{{ else }}no{{ end }}", "yes"],
    ["{{ if .Extra.missing }}yes{{ else }}no{{ end }}", "no"],
    ['{{ .Extra.name | default "anon" | quote }}', '"anon"'],
    ['{{ .Extra.email | default "anon" | quote }}', '"alice@example.com"'],
    ["{{ toJson .Extra.nested }}", '{"bool":true,"int":10,"list":[1,"two",null]}'],
    ["{{ print .Extra.nested.int }}-{{ print .Extra.nested.bool }}-{{ print .Extra.pi }}", "10-true-3.14159"],
    ["{{ .Extra.constructor }}", "own key"],
  ])("%s", (source, expected) => {
    expect(render(source)).toBe(expected);
  });
});

describe("compileTemplate: language", () => {
  it.each([
    // text, trim markers, comments
    ["plain text", "plain text"],
    ["a {{- ` b ` -}} c", "a b c"],
    ["a  \n {{- 1 }}  \n", "a1  \n"],
    ["a {{ 1 -}} \n\t b", "a 1b"],
    ["{{-3}}", "-3"],
    ["x{{/* a comment\n spanning lines */}}y", "xy"],
    ["x {{- /* trimmed */ -}} y", "xy"],
    // literals
    ['{{ "tab\\tq\\"\\u00e9\\x41\\101" }}', 'tab\tq"éAA'],
    ["{{ `raw \\n` }}", "raw \\n"],
    ["{{ 42 }} {{ -7 }} {{ 1.5 }} {{ 0x1F }} {{ 1_000 }} {{ 1e3 }} {{ 'a' }}", "42 -7 1.5 31 1000 1000 97"],
    ["{{ true }} {{ false }}", "true false"],
    ["{{ printf \"%v\" nil }}", "<nil>"],
    // fields, dot and $
    ["{{ .Extra.nested.int }}", "10"],
    ["{{ with .Extra.nested }}{{ .int }}/{{ $.Subject }}{{ end }}", "10/alice"],
    ["{{ .Extra.missing }}", "<no value>"],
    ["{{ .Extra.none }}", "<no value>"],
    ["{{ print .Extra.missing }}", ""],
    ["{{ .Extra.missing | print }}", ""],
    ["{{ (index .Extra \"nested\").int }}", "10"],
    // variables
    ["{{ $x := .Subject }}{{ $x }}", "alice"],
    ["{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"],
    ["{{ $n := 0 }}{{ range .Extra.roles }}{{ $n = 1 }}{{ end }}{{ $n }}", "1"],
    ["{{ $u := .MatchContext.URL }}{{ $u.Path }}", "/users/42/x"],
    ["{{ if $x := .Extra.email }}{{ $x }}{{ end }}", "alice@example.com"],
    // pipelines
    ['{{ .Subject | upper | printf "<%s>" }}', "<ALICE>"],
    ['{{ "a" | eq "a" }}', "true"],
    ['{{ (printf "%s-%s" "a" "b") | upper }}', "A-B"],
    // if / else if / else
    ["{{ if eq .Subject \"bob\" }}bob{{ else if eq .Subject \"alice\" }}alice{{ else }}other{{ end }}", "alice"],
    ["{{ if .Extra.zero }}a{{ else if .Extra.empty }}b{{ else }}c{{ end }}", "c"],
    ["{{ if .Extra.roles }}has{{ end }}", "has"],
    ["{{ if list }}x{{ else }}empty list{{ end }}", "empty list"],
    ["{{ if dict }}x{{ else }}empty map{{ end }}", "empty map"],
    ["{{ if .MatchContext }}struct{{ end }}", "struct"],
    // range
    ["{{ range .Extra.roles }}[{{ . }}]{{ end }}", "[admin][dev]"],
    ["{{ range $i, $r := .Extra.roles }}{{ $i }}={{ $r }} {{ end }}", "0=admin 1=dev "],
    ["{{ range $r := .Extra.roles }}{{ $r }};{{ end }}", "admin;dev;"],
    ["{{ range $k, $v := .Extra.nested }}{{ $k }}:{{ $v }} {{ end }}", "bool:true int:10 list:[1 two <nil>] "],
    ["{{ range .Extra.missing }}x{{ else }}nothing{{ end }}", "nothing"],
    ["{{ range list }}x{{ else }}nothing{{ end }}", "nothing"],
    ["{{ range 3 }}{{ . }}{{ end }}", "012"],
    ["{{ range .Extra.roles }}{{ if eq . \"dev\" }}{{ break }}{{ end }}{{ . }}{{ end }}", "admin"],
    ["{{ range .Extra.roles }}{{ if eq . \"admin\" }}{{ continue }}{{ end }}{{ . }}{{ end }}", "dev"],
    // with
    ["{{ with .Extra.email }}{{ . }}{{ else }}none{{ end }}", "alice@example.com"],
    ["{{ with .Extra.missing }}{{ . }}{{ else }}none{{ end }}", "none"],
    ["{{ with .Extra.missing }}a{{ else with .Extra.email }}{{ . }}{{ end }}", "alice@example.com"],
  ])("%s", (source, expected) => {
    expect(render(source)).toBe(expected);
  });
});

describe("compileTemplate: printing like Go's fmt", () => {
  it.each([
    ["{{ .Extra.count }}", "3"],
    ["{{ .Extra.pi }}", "3.14159"],
    ["{{ .Extra.big }}", "1.2345675e+06"],
    ["{{ 0.00001 }}", "1e-05"],
    ["{{ .Extra.roles }}", "[admin dev]"],
    ["{{ .Extra.nested }}", "map[bool:true int:10 list:[1 two <nil>]]"],
    ["{{ .MatchContext.Header }}", "map[Accept:[text/html application/json] X-Api-Version:[v2]]"],
    ["{{ .MatchContext.RegexpCaptureGroups }}", "[users 42]"],
    ['{{ print "a" "b" }} {{ print 1 2 }} {{ print "a" 1 }}', "ab 1 2 a1"],
    ['{{ println "a" 1 }}', "a 1\n"],
  ])("%s", (source, expected) => {
    expect(render(source)).toBe(expected);
  });

  it("prints the session struct", () => {
    expect(render("{{ . }}")).toMatch(/^&\{alice map\[.*\] map\[X-Existing:\[yes\]\] \{\[users 42\] https:\/\/api\.example\.com:8443\/.* GET map\[.*\]\}\}$/);
  });
});

describe("compileTemplate: functions", () => {
  it.each([
    // Go builtins
    ['{{ printf "%s|%d|%v|%q|%t|%%" "s" 42 .Extra.roles "q\\"" true }}', 's|42|[admin dev]|"q\\""|true|%'],
    ['{{ printf "%5s|%-4d|%03d|%.2f|%x|%X" "ab" 7 5 3.14159 255 "hi" }}', "   ab|7   |005|3.14|ff|6869"],
    ['{{ printf "%d" "x" }}', "%!d(string=x)"],
    ['{{ printf "%s %s" "x" }}', "x %!s(MISSING)"],
    ['{{ printf "%s" "x" "y" }}', "x%!(EXTRA string=y)"],
    ['{{ printf "%s" .Extra.roles }}', "[admin dev]"],
    ['{{ len .Extra.roles }} {{ len "héllo" }} {{ len .Extra.nested }}', "2 6 3"],
    ['{{ eq 1 1 }} {{ eq "a" "b" "a" }} {{ ne 1 2 }} {{ eq .Extra.missing nil }}', "true true true true"],
    ['{{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1 2 }}', "true true true false"],
    ['{{ and 1 "x" }} {{ and 1 0 "x" }} {{ or 0 "" "y" }} {{ or 0 "" }} {{ not "" }}', "x 0 y  true"],
    ["{{ and .Extra.missing .Extra.missing.boom }}", "<no value>"],
    ['{{ urlquery "a b&c=d/é" }}', "a+b%26c%3Dd%2F%C3%A9"],
    ['{{ html "<a href=\\"x\\">&\'" }}', "&lt;a href=&#34;x&#34;&gt;&amp;&#39;"],
    ['{{ js "it\'s <b>" }}', "it\\'s \\u003Cb\\u003E"],
    // sprig
    ['{{ default "d" "" }} {{ default "d" "v" }} {{ default "d" 0 }} {{ default "d" }}', "d v d d"],
    ["{{ empty .Extra.zero }} {{ empty .Extra.roles }} {{ empty .Extra.missing }}", "true false true"],
    ['{{ coalesce .Extra.missing .Extra.empty "c" }}', "c"],
    ['{{ ternary "y" "n" true }} {{ false | ternary "y" "n" }}', "y n"],
    ['{{ quote "a" 1 nil }} {{ squote "a" }} {{ cat "a" 1 nil "b" }}', "\"a\" \"1\" 'a' a 1 b"],
    ['{{ lower "ABC" }} {{ upper "abc" }} {{ title "hello wide-world" }} [{{ trim "  x \\n" }}]', "abc ABC Hello Wide-World [x]"],
    ['{{ trimPrefix "user:" "user:42" }} {{ trimSuffix ".json" "a.json" }}', "42 a"],
    ['{{ hasPrefix "ab" "abc" }} {{ hasSuffix "bc" "abc" }} {{ contains "b" "abc" }} {{ contains "z" "abc" }}', "true true true false"],
    ['{{ replace "a" "$&" "banana" }} {{ "x-y" | replace "-" "_" }}', "b$&n$&n$& x_y"],
    ['{{ $p := split ":" "a:b:c" }}{{ $p._0 }}{{ $p._2 }} {{ splitList "," "x,y" | join "+" }}', "ac x+y"],
    ['{{ join "," .Extra.nested.list }}', "1,two"],
    ['{{ toJson "<&>" }} {{ toJson .Extra.missing }} {{ toJson (list 1 "a" true) }}', '"\\u003c\\u0026\\u003e" null [1,"a",true]'],
    ["{{ toString 12 }} {{ toString .Extra.roles }}", "12 [admin dev]"],
    ['{{ b64enc "héllo" }} {{ b64dec "aMOpbGxv" }} {{ b64dec "@@@" }}', "aMOpbGxv héllo illegal base64 data at input byte 0"],
    ['{{ $d := dict "a" 1 "b" "two" }}{{ get $d "b" }}|{{ get $d "zz" }}|{{ hasKey $d "a" }}|{{ keys $d }}', "two||true|[a b]"],
    ['{{ dict "k" }}', "map[k:]"],
    ["{{ first .Extra.roles }} {{ last .Extra.roles }} {{ first list }}", "admin dev <no value>"],
    ['{{ $d := dict "__proto__" "x" }}{{ index $d "__proto__" }}', "x"],
  ])("%s", (source, expected) => {
    expect(render(source)).toBe(expected);
  });

  describe("now / unixEpoch", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("gives the current time in seconds", () => {
      vi.useFakeTimers();
      vi.setSystemTime(new Date("2024-03-01T12:00:05.250Z"));
      expect(render("{{ now | unixEpoch }}")).toBe("1709294405");
      expect(render("{{ unixEpoch now }}")).toBe("1709294405");
      expect(render("{{ now }}")).toBe("2024-03-01 12:00:05.25 +0000 UTC");
      expect(render("{{ toJson now }}")).toBe('"2024-03-01T12:00:05.25Z"');
    });
  });

  it("encodes the session as Oathkeeper's JSON, struct fields in order", () => {
    const json = JSON.parse(render("{{ toJson . }}")) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(["subject", "extra", "header", "match_context"]);
    expect(json.header).toEqual({ "X-Existing": ["yes"] });
    const mc = json.match_context as Record<string, unknown>;
    expect(Object.keys(mc)).toEqual(["regexp_capture_groups", "url", "method", "header"]);
    expect(mc.url).toMatchObject({ Scheme: "https", Host: "api.example.com:8443", Path: "/users/42/x", RawQuery: "id=7&id=8&q=a+b" });
  });
});

describe("compileTemplate: data other than a session", () => {
  it("reads plain maps and calls JS functions as methods", () => {
    const data = { name: "x", greet: (who: string) => `hi ${who}`, items: { b: 2, a: 1 } };
    expect(render('{{ .name }} {{ .greet "bob" }} {{ range $k, $v := .items }}{{ $k }}{{ $v }}{{ end }}', data)).toBe("x hi bob a1b2");
    expect(render("{{ . }}", "just a string")).toBe("just a string");
  });

  it("does not reach inherited properties", () => {
    expect(render("{{ .toString }}", {})).toBe("<no value>");
    expect(render("{{ .Extra.hasOwnProperty }}")).toBe("<no value>");
  });
});

describe("compileTemplate: syntax errors name where and the position", () => {
  it.each([
    ["{{ .Subject", "line 1, column 1: unclosed action"],
    ["ok\n  {{ foo .Subject }}", 'line 2, column 6: function "foo" not defined'],
    ["{{ end }}", "line 1, column 1: unexpected {{end}}"],
    ["{{ else }}", "line 1, column 1: unexpected {{else}}"],
    ["{{ if .A }}x", "line 1, column 1: unclosed {{if}}: no matching {{end}}"],
    ["{{ range .A }}x{{ else }}y{{ else }}z{{ end }}", "expected {{end}}; found {{else}}"],
    ["{{ }}", "missing value for command"],
    ["{{ if }}{{ end }}", "missing value for if"],
    ["{{ .A | }}", "missing value for command"],
    ["{{ .A | 3 }}", "non executable command in pipeline stage 2"],
    ["{{ (.A }}", "unclosed left paren"],
    ["{{ .A) }}", "unexpected right paren"],
    ['{{ "abc }}', "unterminated quoted string"],
    ["{{ `abc }}", "unterminated raw quoted string"],
    ["{{ /* x */ }}", "unrecognized character in action"],
    ["{{/* x */ .A }}", "comment ends before closing delimiter"],
    ["{{/* x }}", "unclosed comment"],
    ["{{ $x }}", 'undefined variable "$x"'],
    ["{{ $x = 1 }}", 'undefined variable "$x"'],
    ["{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}", 'undefined variable "$y"'],
    ["{{ break }}", "{{break}} outside {{range}}"],
    ["{{ range .A }}{{ else }}{{ continue }}{{ end }}", "{{continue}} outside {{range}}"],
    ["{{ $a, $b := .A }}", "too many declarations in command"],
    ['{{ template "x" }}', "{{template}} is not supported"],
    ["{{ define \"x\" }}{{ end }}", "{{define}} is not supported"],
    ["{{ 1x }}", 'bad number syntax: "1x"'],
    ['{{ "a""b" }}', "in operand"],
    ["{{ .A#B }}", "bad character U+0023 '#'"],
    ["{{ len }}", "wrong number of args for len: want 1 got 0"],
    ["{{ .A | printIndex 1 2 }}", "wrong number of args for printIndex: want 2 got 3"],
    ["{{ nil }}", "nil is not a command"],
    ["{{ $x := 1 }}{{ $x 2 }}", "can't give argument to non-function $x"],
    ['{{ "a".B }}', "unexpected . after term"],
    ["{{ if .A }}{{ else with .B }}{{ end }}", "{{else with}} cannot continue {{if}}"],
    ['{{ "\\q" }}', "invalid escape in quoted string"],
    ["{{ .A := 1 }}", "in operand"],
  ])("%s", (source, problem) => {
    const err = compileError(source);
    expect(err.message).toMatch(/^rule "r1" mutators\[0\] \(header\): config\.headers\.X: template syntax error at line \d+, column \d+: /);
    expect(err.message).toContain(problem);
    expect(err.reason).toBe("invalid_template");
    expect(err.details.line).toBeTypeOf("number");
  });

  it("refuses nesting beyond the limit", () => {
    expect(compileError(`{{ ${"(".repeat(150)}1${")".repeat(150)} }}`).message).toContain("nested deeper");
  });
});

describe("compileTemplate: execution errors", () => {
  it.each([
    ["{{ index .Extra.roles 5 }}", "error calling index: index out of range: 5"],
    ["{{ index .Extra.roles -1 }}", "index out of range: -1"],
    ["{{ index .Extra.missing 0 }}", "index of untyped nil"],
    ['{{ index .Extra.roles "a" }}', "cannot index slice/array with type string"],
    ["{{ printIndex .Extra.roles -1 }}", "index out of range: -1"],
    ["{{ .Extra.missing.deeper }}", "nil pointer evaluating interface {}.deeper"],
    ["{{ .Subject.Length }}", "can't evaluate field Length in type string"],
    ["{{ .Nope }}", "can't evaluate field Nope in type *authn.AuthenticationSession"],
    ['{{ .Extra.email "arg" }}', "email is not a method but has arguments"],
    ["{{ .MatchContext.Header.Get }}", "wrong number of args for Get: want 1 got 0"],
    ['{{ eq "a" 1 }}', "incompatible types for comparison"],
    ["{{ eq .Extra.roles .Extra.roles }}", "non-comparable type"],
    ["{{ lt true false }}", "invalid type for comparison"],
    ["{{ len 3 }}", "len of type int"],
    ["{{ upper .Extra.count }}", "wrong type for argument 1; expected string, got int"],
    ["{{ printIndex .Extra.roles .Extra.pi }}", "expected int, got float64"],
    ["{{ range .Subject }}{{ end }}", "range can't iterate over a value of type string"],
    ["{{ first .Subject }}", "expected a list"],
    ["{{ unixEpoch 5 }}", "expected time.Time"],
    ["{{ range $i, $v := 3 }}{{ end }}", "can't use two variables to range over an integer"],
  ])("%s", (source, problem) => {
    const err = executionError(source);
    expect(err).toBeInstanceOf(GatehouseError);
    expect(err.code).toBe("internal");
    expect(err.where).toBe('rule "r1" config.payload');
    expect(err.message).toMatch(/^rule "r1" config\.payload: template failed at line 1, column \d+: /);
    expect(err.message).toContain(problem);
  });

  it("reports the position of the failing action", () => {
    const err = executionError('line one\n  ok {{ .Subject }} then {{ index .Extra.roles 9 }}');
    expect(err.message).toContain("line 2, column 29");
    expect(err.details).toMatchObject({ line: 2, column: 29 });
  });

  it("wraps errors thrown by JS methods without leaking their text", () => {
    const err = executionError("{{ .boom }}", {
      boom: () => {
        throw new Error("secret detail");
      },
    });
    expect(err.message).toContain("error calling boom");
    expect(err.message).not.toContain("secret detail");
    expect(err.cause).toBeInstanceOf(Error);
  });

  it("caps range iterations", () => {
    expect(executionError("{{ range 200000 }}{{ end }}").message).toContain("range iterations exceed 100000");
    expect(executionError("{{ range 400 }}{{ range 400 }}{{ end }}{{ end }}").message).toContain("range iterations exceed");
  });

  it("caps the output size", () => {
    const big = "x".repeat(1024);
    expect(executionError("{{ range 2000 }}{{ $.big }}{{ end }}", { big }).message).toContain(`output exceeds ${MAX_TEMPLATE_OUTPUT} characters`);
    expect(executionError('{{ $s := "xxxxxxxxxx" }}{{ range 10 }}{{ $s = replace "" $s $s }}{{ end }}').message).toContain("would exceed");
    expect(executionError('{{ $s := "xx" }}{{ range 40 }}{{ $s = printf "%s%s" $s $s }}{{ end }}').message).toMatch(/printf produced more than|output exceeds/);
  });
});

describe("compileTemplate: rendering", () => {
  it("parses once and renders many times with different data", () => {
    const template = compileTemplate("{{ .Subject }}:{{ len .Extra }}", "t");
    expect(template.source).toBe("{{ .Subject }}:{{ len .Extra }}");
    const a = makeSession();
    const b = { ...makeSession(), subject: "bob", extra: {} };
    expect(template.render(templateDataOf(a))).toBe(`alice:${Object.keys(a.extra).length}`);
    expect(template.render(templateDataOf(b))).toBe("bob:0");
  });

  it("keeps variables per rendering", () => {
    const template = compileTemplate("{{ if .set }}{{ $x := .v }}{{ end }}{{ $y := 0 }}{{ range .l }}{{ $y = . }}{{ end }}{{ $y }}", "t");
    expect(template.render({ l: [1, 2] })).toBe("2");
    expect(template.render({ l: [] })).toBe("0");
  });

  it("leaves text without actions unchanged", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 200 }).filter((s) => !s.includes("{{")),
        (text) => compileTemplate(text, "t").render(undefined) === text,
      ),
    );
  });

  it("renders text around actions unchanged", () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes("{") && !s.includes("}")),
        fc.string().filter((s) => !s.includes("{") && !s.includes("}")),
        (before, after) => compileTemplate(`${before}{{ .Subject }}${after}`, "t").render(templateDataOf(makeSession())) === `${before}alice${after}`,
      ),
    );
  });
});
