import { describe, expect, it } from "vitest";
import { GatehouseError, InvalidArgumentError } from "../../../../common/errors.js";
import { TemplateExecutionError } from "../template.js";
import type { AuthenticationSession, HeaderMap, PipelineRequest, PrepareContext } from "../types.js";
import { cookieMutator, parseRequestCookies } from "./cookie.js";
import { headerMutator, setSessionHeader } from "./header.js";
import { noopMutator } from "./noop.js";

const context: PrepareContext = { where: 'rule "api" mutators[0] (test)', strategy: "regexp" };

function makeRequest(headers: HeaderMap = {}): PipelineRequest {
  return { method: "GET", url: new URL("https://api.example.com/users/42?v=1"), headers, remoteAddress: "10.0.0.1" };
}

function makeSession(overrides: Partial<AuthenticationSession> = {}, request = makeRequest()): AuthenticationSession {
  return {
    subject: "alice",
    extra: { email: "alice@example.com", iss: "issuer", roles: ["admin", "dev"], nested: { int: 10, float64: 3.14159, bool: true } },
    header: {},
    matchContext: { regexpCaptureGroups: ["42"], url: request.url, method: request.method, header: request.headers },
    ...overrides,
  };
}

async function mutateWith(factory: typeof headerMutator, config: Record<string, unknown>, session: AuthenticationSession, request = makeRequest()): Promise<AuthenticationSession> {
  await factory.prepare(config, context).mutate(request, session);
  return session;
}

function prepareError(factory: typeof headerMutator, config: Record<string, unknown>): InvalidArgumentError {
  try {
    factory.prepare(config, context);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error("expected prepare to fail");
}

describe("noop mutator", () => {
  it("is named noop and leaves the session alone", async () => {
    expect(noopMutator.name).toBe("noop");
    const session = makeSession({ header: { "X-Kept": "1" } });
    const before = structuredClone({ ...session, matchContext: undefined });
    await noopMutator.prepare({ anything: true }, context).mutate(makeRequest(), session);
    expect({ ...session, matchContext: undefined }).toEqual(before);
  });
});

describe("header mutator", () => {
  it("is named header", () => {
    expect(headerMutator.name).toBe("header");
  });

  it("sets headers from templates, keeping the configured case", async () => {
    const request = makeRequest({ "x-api-version": "v3" });
    const session = await mutateWith(
      headerMutator,
      {
        headers: {
          "X-User": "{{ print .Subject }}",
          "X-Email": "{{ .Extra.email }}",
          "X-Id": "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}",
          "X-Version": '{{ .MatchContext.Header.Get "X-Api-Version" }}',
          "X-Query": '{{ .MatchContext.URL.Query.Get "v" }}',
          "X-Roles": '{{ join "," .Extra.roles }}',
          "X-Static": "constant",
          "X-Missing": "{{ print .Extra.nope }}",
        },
      },
      makeSession({}, request),
      request,
    );
    expect(session.header).toEqual({
      "X-User": "alice",
      "X-Email": "alice@example.com",
      "X-Id": "42",
      "X-Version": "v3",
      "X-Query": "1",
      "X-Roles": "admin,dev",
      "X-Static": "constant",
      "X-Missing": "",
    });
  });

  it("overwrites a header set earlier whatever its case", async () => {
    const session = makeSession({ header: { "x-user": "old", Other: "kept" } });
    await mutateWith(headerMutator, { headers: { "X-User": "{{ .Subject }}" } }, session);
    expect(session.header).toEqual({ "X-User": "alice", Other: "kept" });
  });

  it("lets a later mutator overwrite an earlier one", async () => {
    const session = makeSession();
    await mutateWith(headerMutator, { headers: { "X-User": "first" } }, session);
    await mutateWith(headerMutator, { headers: { "x-user": "second" } }, session);
    expect(session.header).toEqual({ "x-user": "second" });
  });

  it("accepts an empty map", async () => {
    const session = await mutateWith(headerMutator, { headers: {} }, makeSession());
    expect(session.header).toEqual({});
  });

  it.each([
    ["X-Bad", "{{ .Extra.evil }}", { evil: "a\r\nSet-Cookie: x=y" }],
    ["X-Bad", "{{ .Extra.evil }}", { evil: "a\nb" }],
    ["X-Bad", "{{ .Extra.evil }}", { evil: "a\0b" }],
    ["X-Bad", '{{ printf "a%cb" 13 }}', {}],
  ])("refuses a rendered value with CR/LF/NUL (%s = %s)", async (name, template, extra) => {
    const session = makeSession({ extra });
    const mutator = headerMutator.prepare({ headers: { "X-Good": "ok", [name]: template } }, context);
    const err = await mutator.mutate(makeRequest(), session).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe("internal");
    expect((err as GatehouseError).message).toContain(`header "${name}"`);
    expect((err as GatehouseError).message).toContain(context.where);
    expect((err as GatehouseError).message).not.toContain("Set-Cookie");
    // Nothing is set when one value is refused.
    expect(session.header).toEqual({});
  });

  it("allows tabs and non-ASCII text in values", async () => {
    const session = await mutateWith(headerMutator, { headers: { "X-Name": "{{ .Extra.name }}" } }, makeSession({ extra: { name: "Zoë\tB" } }));
    expect(session.header["X-Name"]).toBe("Zoë\tB");
  });

  it("reports template execution failures with the header's location", async () => {
    const mutator = headerMutator.prepare({ headers: { "X-Role": "{{ index .Extra.roles 7 }}" } }, context);
    await expect(mutator.mutate(makeRequest(), makeSession())).rejects.toThrow(TemplateExecutionError);
    await expect(mutator.mutate(makeRequest(), makeSession())).rejects.toThrow(`${context.where}: config.headers.X-Role: template failed`);
  });

  it.each([
    [{}, "config.headers is required"],
    [{ headers: "x" }, "config.headers must be an object"],
    [{ headers: { "X-A": 1 } }, "config.headers.X-A must be a string"],
    [{ headers: { "Bad Name": "x" } }, "config.headers.Bad Name is not a valid header name"],
    [{ headers: { "X-A": "{{ nope }}" } }, 'config.headers.X-A: template syntax error at line 1, column 4: function "nope" not defined'],
    [{ headers: { "X-A": "{{ .Subject" } }, "config.headers.X-A: template syntax error at line 1, column 1: unclosed action"],
  ])("refuses bad config %j", (config, problem) => {
    const err = prepareError(headerMutator, config);
    expect(err.message).toContain(context.where);
    expect(err.message).toContain(problem);
  });
});

describe("cookie mutator", () => {
  it("is named cookie", () => {
    expect(cookieMutator.name).toBe("cookie");
  });

  it("sets the Cookie header from templates", async () => {
    const session = await mutateWith(
      cookieMutator,
      { cookies: { user: "{{ print .Subject }}", realm: "realm:users:{{ print .Subject }}", issuer: "{{ print .Extra.iss }}" } },
      makeSession(),
    );
    expect(session.header).toEqual({ Cookie: "user=alice; realm=realm:users:alice; issuer=issuer" });
  });

  it("prints nested extras as Oathkeeper does and missing ones as empty", async () => {
    const session = await mutateWith(
      cookieMutator,
      {
        cookies: {
          "nested-int": "{{ print .Extra.nested.int }}",
          "nested-float64": "{{ print .Extra.nested.float64 }}",
          "nested-bool": "{{ print .Extra.nested.bool }}",
          "nested-nonexistent": "{{ print .Extra.nested.nil }}",
        },
      },
      makeSession(),
    );
    expect(session.header.Cookie).toBe("nested-int=10; nested-float64=3.14159; nested-bool=true; nested-nonexistent=");
  });

  it("keeps the request's other cookies and overrides same-named ones", async () => {
    const request = makeRequest({ cookie: "user=admin; session=abc123; theme=dark" });
    const session = await mutateWith(cookieMutator, { cookies: { user: "{{ .Subject }}" } }, makeSession({}, request), request);
    expect(session.header).toEqual({ Cookie: "user=alice; session=abc123; theme=dark" });
  });

  it("scrubs incoming cookies the rule sets, even to empty values", async () => {
    const request = makeRequest({ cookie: "user=admin;issuer=issuer;audience=audience" });
    const session = await mutateWith(
      cookieMutator,
      { cookies: { user: "{{ print .Subject }}", issuer: "{{ print .Extra.nope }}", audience: "{{ print .Extra.nope }}" } },
      makeSession({ subject: "anonymous" }, request),
      request,
    );
    expect(session.header.Cookie).toBe("user=anonymous; issuer=; audience=");
  });

  it("reads a Cookie header given as a list and drops malformed request cookies", async () => {
    const request = makeRequest({ cookie: ["a=1; bad name=2", 'q="quoted value"; c=3;; =x; d="x;y'] });
    const session = await mutateWith(cookieMutator, { cookies: { mine: "m" } }, makeSession({}, request), request);
    // Go splits on ";" first, so the broken `d="x;y` yields a dropped `d` and a cookie `y`.
    expect(session.header.Cookie).toBe('mine=m; a=1; q="quoted value"; c=3; y=');
  });

  it("quotes values with a space or comma as Go does", async () => {
    const session = await mutateWith(cookieMutator, { cookies: { who: "{{ .Subject }} and, bob" } }, makeSession());
    expect(session.header.Cookie).toBe('who="alice and, bob"');
  });

  it("replaces a Cookie header an earlier mutator set, whatever its case", async () => {
    const session = makeSession({ header: { cookie: "old=1", "X-Other": "kept" } });
    await mutateWith(cookieMutator, { cookies: { fresh: "2" } }, session);
    expect(session.header).toEqual({ Cookie: "fresh=2", "X-Other": "kept" });
  });

  it.each([["a;b"], ["a\r\nSet-Cookie: x=y"], ["a\nb"], ['say "hi"'], ["back\\slash"], ["Zoë"]])("refuses the rendered value %j", async (value) => {
    const mutator = cookieMutator.prepare({ cookies: { bad: "{{ .Extra.v }}" } }, context);
    const session = makeSession({ extra: { v: value } });
    const err = await mutator.mutate(makeRequest(), session).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe("internal");
    expect((err as GatehouseError).message).toContain('cookie "bad"');
    expect(session.header).toEqual({});
  });

  it.each([
    [{}, "config.cookies is required"],
    [{ cookies: ["x"] }, "config.cookies must be an object"],
    [{ cookies: { "bad name": "x" } }, "config.cookies.bad name is not a valid cookie name"],
    [{ cookies: { "a;b": "x" } }, "config.cookies.a;b is not a valid cookie name"],
    [{ cookies: { ok: "{{ if .Subject }}" } }, "config.cookies.ok: template syntax error"],
  ])("refuses bad config %j", (config, problem) => {
    const err = prepareError(cookieMutator, config);
    expect(err.message).toContain(context.where);
    expect(err.message).toContain(problem);
  });
});

describe("helpers", () => {
  it("parseRequestCookies follows Go's reading", () => {
    expect(parseRequestCookies(undefined)).toEqual([]);
    expect(parseRequestCookies(' a=1 ; b="two"; c= ;d')).toEqual([
      { name: "a", value: "1", quoted: false },
      { name: "b", value: "two", quoted: true },
      { name: "c", value: "", quoted: false },
      { name: "d", value: "", quoted: false },
    ]);
  });

  it("setSessionHeader drops case variants", () => {
    const session = makeSession({ header: { "X-A": "1", "x-a": "2", "x-b": "3" } });
    setSessionHeader(session, "x-A", "new");
    expect(session.header).toEqual({ "x-A": "new", "x-b": "3" });
  });
});
