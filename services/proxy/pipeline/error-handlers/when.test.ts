import { describe, expect, it } from "vitest";
import { UnauthorizedError, ForbiddenError } from "../errors.js";
import { ConfigReader } from "../config-reader.js";
import type { PipelineRequest } from "../types.js";
import { compileWhen, negotiate } from "./when.js";

const request = (headers: Record<string, string>, remoteAddress = "192.0.2.1"): PipelineRequest => ({ method: "GET", url: new URL("http://a.test/"), headers, remoteAddress });
const when = (config: unknown) => compileWhen(new ConfigReader({ when: config }, "rule \"r\" errors[0] (json)"));

describe("error handler `when`", () => {
  it("selects by error kind, remote address, content type and Accept; clauses are alternatives", () => {
    const matches = when([
      { error: ["unauthorized"], request: { header: { accept: ["text/html"] } } },
      { error: ["forbidden"], request: { remote_ip: { match: ["10.0.0.0/8"] } } },
      { request: { header: { content_type: ["application/x-www-form-urlencoded"] } } },
    ]);
    expect(matches(new UnauthorizedError(), request({ accept: "text/html" }))).toBe(true);
    expect(matches(new UnauthorizedError(), request({ accept: "application/json" }))).toBe(false);
    expect(matches(new ForbiddenError(), request({}, "10.2.3.4"))).toBe(true);
    expect(matches(new ForbiddenError(), request({}, "192.0.2.1"))).toBe(false);
    expect(matches(new ForbiddenError(), request({ "content-type": "application/x-www-form-urlencoded; charset=utf-8" }))).toBe(true);
  });

  it("uses X-Forwarded-For addresses only with respect_forwarded_for_header", () => {
    const plain = when([{ request: { remote_ip: { match: ["203.0.113.0/24"] } } }]);
    const respecting = when([{ request: { remote_ip: { match: ["203.0.113.0/24"], respect_forwarded_for_header: true } } }]);
    const r = request({ "x-forwarded-for": "203.0.113.7" });
    expect(plain(new UnauthorizedError(), r)).toBe(false);
    expect(respecting(new UnauthorizedError(), r)).toBe(true);
  });

  it("matches everything without `when`, and names the key of a malformed clause", () => {
    expect(when(undefined)(new UnauthorizedError(), request({}))).toBe(true);
    expect(() => when({ error: "x" })).toThrow('rule "r" errors[0] (json): config.when must be a list of conditions');
    expect(() => when([{ error: 5 }])).toThrow("config.when[0].error must be a list of strings");
  });
});

describe("negotiate", () => {
  it("honours q-values and wildcards", () => {
    expect(negotiate("text/html;q=0.5, application/json", ["text/html", "application/json"])).toBe("application/json");
    expect(negotiate("*/*", ["text/html"])).toBe("text/html");
    expect(negotiate("text/*;q=0", ["text/html"])).toBeUndefined();
    expect(negotiate("", ["text/html"])).toBeUndefined();
  });
});
