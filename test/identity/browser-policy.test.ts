/**
 * The browser-flow policy without a server: UI URLs (custom ones included), which `return_to` URLs pass,
 * the CSRF cookie's name and attributes, the CSRF checks' reasons, and the configuration keys behind them.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../cli/config/config.js";
import { KratosHttpError } from "../../services/identity/api/http-io.js";
import { BrowserFlows, CSRF_REJECT_REASONS, withoutBlankFormTraits } from "../../services/identity/flows/browser.js";
import type { StoredFlow } from "../../services/identity/model.js";
import { hashToken } from "../../services/identity/sessions.js";

const BASE = "https://id.example.test";

function request(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

function flowBoundTo(token: string | undefined): StoredFlow {
  return {
    id: "3f0c7a4e-6c3b-4c8e-9f5e-2a1b0c9d8e7f",
    kind: "login",
    type: "browser",
    issuedAt: new Date(),
    expiresAt: new Date(Date.now() + 60_000),
    requestUrl: `${BASE}/self-service/login/browser`,
    returnTo: undefined,
    csrfTokenHash: token === undefined ? undefined : hashToken(token),
    state: {},
  };
}

function rejectReason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KratosHttpError);
    const e = err as KratosHttpError;
    expect(e.status).toBe(403);
    expect(e.id).toBe("security_csrf_violation");
    return String(e.details?.["reject_reason"]);
  }
  throw new Error("expected a CSRF rejection");
}

describe("browser flow policy", () => {
  it("points HTML clients at the built-in pages by default, or at configured UI URLs", () => {
    const builtIn = new BrowserFlows(BASE);
    expect(builtIn.uiUrl("login", "abc")).toBe(`${BASE}/ui/login?flow=abc`);
    expect(builtIn.uiUrl("registration", "abc")).toBe(`${BASE}/ui/registration?flow=abc`);
    expect(builtIn.defaultReturnUrl).toBe(`${BASE}/ui/welcome`);
    expect(builtIn.logoutReturnUrl).toBe(`${BASE}/ui/login`);
    const custom = new BrowserFlows(BASE, { loginUiUrl: "https://app.example.test/auth/login?lang=en", defaultReturnUrl: "https://app.example.test/" });
    expect(custom.uiUrl("login", "abc")).toBe("https://app.example.test/auth/login?lang=en&flow=abc");
    expect(custom.formOrigins()).toEqual(expect.arrayContaining([BASE, "https://app.example.test"]));
  });

  it("allows return_to on the public origin and on configured URLs (same origin, same or deeper path) only", () => {
    const policy = new BrowserFlows(BASE, { allowedReturnUrls: ["https://app.example.test/dash", "http://localhost:3000"] });
    expect(policy.allowedReturnUrl(`${BASE}/anything?x=1`)).toBe(`${BASE}/anything?x=1`);
    expect(policy.allowedReturnUrl("/relative/path")).toBe(`${BASE}/relative/path`);
    expect(policy.allowedReturnUrl("https://app.example.test/dash")).toBe("https://app.example.test/dash");
    expect(policy.allowedReturnUrl("https://app.example.test/dash/board")).toBe("https://app.example.test/dash/board");
    expect(policy.allowedReturnUrl("http://localhost:3000/x")).toBe("http://localhost:3000/x");
    for (const bad of [
      "https://app.example.test/dashboard",
      "https://app.example.test/",
      "http://app.example.test/dash",
      "https://evil.example/",
      "//evil.example",
      "\\\\evil.example",
      "https://user:pw@id.example.test/",
      "javascript:alert(1)",
      "data:text/html,hi",
      "http://localhost:3001/",
    ]) {
      expect(policy.allowedReturnUrl(bad), bad).toBeUndefined();
    }
    expect(() => policy.returnToOf("https://evil.example/")).toThrow(KratosHttpError);
    expect(policy.returnToOf(null)).toBeUndefined();
  });

  it("names the CSRF cookie after the public base URL and sets it HttpOnly, SameSite=Lax, Path=/, a year, Secure on https", () => {
    const policy = new BrowserFlows(BASE);
    expect(policy.csrfCookieName).toBe(`csrf_token_${createHash("sha256").update(BASE).digest("hex")}`);
    const { token, tokenHash, cookie } = policy.csrfFor(request({}));
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokenHash).toBe(hashToken(token));
    expect(cookie).toBe(`${policy.csrfCookieName}=${token}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax; Secure`);
    // The browser's existing token is kept (flows open in several tabs stay valid).
    expect(policy.csrfFor(request({ cookie: `${policy.csrfCookieName}=${token}` })).token).toBe(token);
    // Anything not shaped like an issued token is replaced.
    expect(policy.csrfFor(request({ cookie: `${policy.csrfCookieName}=short` })).token).not.toBe("short");
    expect(new BrowserFlows("http://127.0.0.1:4433").csrfFor(request({})).cookie).not.toContain("Secure");
  });

  it("checks submissions against the cookie and the flow, with Kratos's reject reasons", () => {
    const policy = new BrowserFlows(BASE);
    const token = policy.csrfFor(request({})).token;
    const cookie = `${policy.csrfCookieName}=${token}`;
    const flow = flowBoundTo(token);
    expect(policy.checkSubmission(request({ cookie }), flow, { csrf_token: token })).toBe(token);
    expect(policy.checkSubmission(request({ cookie, "x-csrf-token": token }), flow, {})).toBe(token);
    expect(rejectReason(() => policy.checkSubmission(request({}), flow, { csrf_token: token }))).toBe(CSRF_REJECT_REASONS.noCookies);
    expect(rejectReason(() => policy.checkSubmission(request({ cookie: "a=b" }), flow, { csrf_token: token }))).toBe(CSRF_REJECT_REASONS.cookieMissing);
    expect(rejectReason(() => policy.checkSubmission(request({ cookie }), flow, {}))).toBe(CSRF_REJECT_REASONS.tokenNotSent);
    expect(rejectReason(() => policy.checkSubmission(request({ cookie }), flow, { csrf_token: `${token.slice(1)}x` }))).toBe(CSRF_REJECT_REASONS.tokenMismatch);
    // Cookie and token agree but the flow is bound to another browser's token.
    const other = policy.csrfFor(request({})).token;
    expect(rejectReason(() => policy.checkSubmission(request({ cookie: `${policy.csrfCookieName}=${other}` }), flow, { csrf_token: other }))).toBe(
      CSRF_REJECT_REASONS.tokenMismatch,
    );
    // A flow without a binding (never for browser flows) accepts nothing.
    expect(rejectReason(() => policy.checkSubmission(request({ cookie }), flowBoundTo(undefined), { csrf_token: token }))).toBe(CSRF_REJECT_REASONS.tokenMismatch);
    // Fetching needs the bound cookie.
    expect(policy.checkFlowCookie(request({ cookie }), flow)).toBe(token);
    expect(rejectReason(() => policy.checkFlowCookie(request({ cookie: `${policy.csrfCookieName}=${other}` }), flow))).toBe(CSRF_REJECT_REASONS.tokenMismatch);
  });

  it("drops blank traits of form posts only", () => {
    const form = request({ "content-type": "application/x-www-form-urlencoded" });
    expect(withoutBlankFormTraits({ traits: { email: "a@b.c", name: { first: "", last: "" } }, password: "" }, form)).toEqual({
      traits: { email: "a@b.c" },
      password: "",
    });
    const json = request({ "content-type": "application/json" });
    expect(withoutBlankFormTraits({ traits: { email: "" } }, json)).toEqual({ traits: { email: "" } });
  });

  it("reads the browser-flow configuration keys", () => {
    const config = loadConfig({
      env: {
        GATEHOUSE_IDENTITY_FLOW_LIFESPAN_MILLIS: "600000",
        GATEHOUSE_IDENTITY_BROWSER_ALLOWED_RETURN_URLS: "https://app.example.test/dash, http://localhost:3000",
        GATEHOUSE_IDENTITY_BROWSER_LOGIN_UI_URL: "https://app.example.test/login",
        GATEHOUSE_IDENTITY_BROWSER_DEFAULT_RETURN_URL: "https://app.example.test/",
      },
    });
    expect(config.identity.flowLifespanMillis).toBe(600_000);
    expect(config.identity.allowedReturnUrls).toEqual(["https://app.example.test/dash", "http://localhost:3000"]);
    expect(config.identity.loginUiUrl).toBe("https://app.example.test/login");
    expect(config.identity.defaultReturnUrl).toBe("https://app.example.test/");
    expect(loadConfig({ env: {} }).identity.flowLifespanMillis).toBe(3_600_000);
    expect(() => loadConfig({ env: { GATEHOUSE_IDENTITY_BROWSER_ALLOWED_RETURN_URLS: "ftp://x.example" } })).toThrow(/ALLOWED_RETURN_URLS/);
    expect(() => loadConfig({ env: { GATEHOUSE_IDENTITY_FLOW_LIFESPAN_MILLIS: "10" } })).toThrow(/FLOW_LIFESPAN_MILLIS/);
  });
});
