/**
 * The pure parts of the built-in login, consent and logout app: the stateless form tokens, when a login is
 * not fresh enough for the OAuth2 request, and the `amr` values of a session.
 */
import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { amrOf, formToken, FRESH_LOGIN_MILLIS, needsFreshLogin, verifyFormToken } from "./oauth2-app.js";

const tokenHash = createHash("sha256").update("ory_st_example", "utf8").digest("hex");

describe("form tokens", () => {
  it("are base64url(HMAC-SHA256(SHA-256 of the session token, purpose NUL challenge))", () => {
    const expected = createHmac("sha256", createHash("sha256").update("ory_st_example", "utf8").digest()).update("consent\0abc", "utf8").digest("base64url");
    expect(formToken(tokenHash, "consent", "abc")).toBe(expected);
    expect(formToken(tokenHash, "consent", "abc")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("differ by session, purpose and challenge", () => {
    const other = createHash("sha256").update("ory_st_other", "utf8").digest("hex");
    const base = formToken(tokenHash, "consent", "abc");
    expect(formToken(other, "consent", "abc")).not.toBe(base);
    expect(formToken(tokenHash, "logout", "abc")).not.toBe(base);
    expect(formToken(tokenHash, "consent", "abd")).not.toBe(base);
  });

  it("verify only the exact token", () => {
    const token = formToken(tokenHash, "logout", "xyz");
    expect(verifyFormToken(tokenHash, "logout", "xyz", token)).toBe(true);
    expect(verifyFormToken(tokenHash, "consent", "xyz", token)).toBe(false);
    expect(verifyFormToken(tokenHash, "logout", "xyz", `${token}A`)).toBe(false);
    expect(verifyFormToken(tokenHash, "logout", "xyz", token.slice(0, -1))).toBe(false);
    expect(verifyFormToken(tokenHash, "logout", "xyz", "")).toBe(false);
    expect(verifyFormToken(tokenHash, "logout", "xyz", null)).toBe(false);
    expect(verifyFormToken(tokenHash, "logout", "xyz", undefined)).toBe(false);
  });
});

describe("needsFreshLogin", () => {
  const now = Date.UTC(2030, 0, 1);
  const ago = (ms: number): Date => new Date(now - ms);
  const request = (query: string): string => `https://issuer.example/oauth2/auth?client_id=c&${query}`;

  it("is false without prompt=login or max_age", () => {
    expect(needsFreshLogin(request("scope=openid"), ago(86_400_000), now)).toBe(false);
    expect(needsFreshLogin(request("prompt=consent"), ago(86_400_000), now)).toBe(false);
  });

  it("asks for prompt=login unless the login is from the last minute", () => {
    expect(needsFreshLogin(request("prompt=login"), ago(FRESH_LOGIN_MILLIS + 1), now)).toBe(true);
    expect(needsFreshLogin(request("prompt=login%20consent"), ago(3_600_000), now)).toBe(true);
    expect(needsFreshLogin(request("prompt=login"), ago(5_000), now)).toBe(false);
  });

  it("asks when the session is older than max_age (a login within the last minute always counts)", () => {
    expect(needsFreshLogin(request("max_age=300"), ago(301_000), now)).toBe(true);
    expect(needsFreshLogin(request("max_age=300"), ago(299_000), now)).toBe(false);
    expect(needsFreshLogin(request("max_age=0"), ago(5_000), now)).toBe(false);
    expect(needsFreshLogin(request("max_age=0"), ago(FRESH_LOGIN_MILLIS + 1), now)).toBe(true);
    expect(needsFreshLogin(request("max_age=junk"), ago(86_400_000), now)).toBe(false);
  });

  it("is false for an unparsable request URL", () => {
    expect(needsFreshLogin("not a url", ago(86_400_000), now)).toBe(false);
  });
});

describe("amrOf", () => {
  it("maps methods to RFC 8176 values, once each", () => {
    const at = new Date();
    expect(amrOf([{ method: "password", aal: "aal1", completedAt: at }])).toEqual(["pwd"]);
    expect(
      amrOf([
        { method: "password", aal: "aal1", completedAt: at },
        { method: "totp", aal: "aal2", completedAt: at },
        { method: "password", aal: "aal1", completedAt: at },
      ]),
    ).toEqual(["pwd", "otp"]);
    expect(amrOf([{ method: "oidc", aal: "aal1", completedAt: at }])).toEqual(["oidc"]);
  });
});
