import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createOpaqueTokens, OPAQUE_TOKEN_KINDS, storageIdOf, TOKEN_MAC_INFO } from "./opaque-tokens.js";
import { systemSecretsFrom } from "./system-secrets.js";

const OLD = "old-system-secret-0123456789";
const NEW = "new-system-secret-0123456789";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

describe("opaque tokens", () => {
  const tokens = createOpaqueTokens({ secrets: systemSecretsFrom([OLD]) });

  it("mints <prefix>_<kind>_<43 chars>.<43 chars> with the default prefix gh", () => {
    for (const kind of OPAQUE_TOKEN_KINDS) {
      const token = tokens.mint(kind);
      expect(token).toMatch(new RegExp(`^gh_${kind}_[A-Za-z0-9_-]{43}\\.[A-Za-z0-9_-]{43}$`));
      expect(tokens.verify(token)).toBe(true);
      expect(tokens.verify(token, kind)).toBe(true);
      expect(tokens.kindOf(token)).toBe(kind);
    }
    expect(tokens.mint("at")).not.toBe(tokens.mint("at"));
  });

  it("signs with HMAC-SHA-512/256 under the HKDF-derived key, over <kind>_<random>", () => {
    const secrets = systemSecretsFrom([OLD]);
    const token = tokens.mint("rt");
    const [random, signature] = token.slice("gh_rt_".length).split(".");
    const expected = createHmac("sha512-256", secrets.derive(TOKEN_MAC_INFO)[0] as Buffer)
      .update(`rt_${String(random)}`)
      .digest("base64url");
    expect(signature).toBe(expected);
    expect(Buffer.from(String(random), "base64url")).toHaveLength(32);
  });

  it("uses a configured prefix and refuses tokens of another prefix", () => {
    const acme = createOpaqueTokens({ secrets: systemSecretsFrom([OLD]), prefix: "acme" });
    const token = acme.mint("ac");
    expect(token.startsWith("acme_ac_")).toBe(true);
    expect(acme.verify(token)).toBe(true);
    expect(tokens.verify(token)).toBe(false);
    expect(acme.verify(`gh${token.slice(4)}`)).toBe(false);
  });

  it("refuses bad prefixes", () => {
    for (const prefix of ["", "GH", "g_h", "1gh", "x".repeat(17), "g.h"]) {
      expect(() => createOpaqueTokens({ secrets: systemSecretsFrom([OLD]), prefix })).toThrow(/prefix/);
    }
  });

  it("fails verification when any single character is changed", () => {
    const token = tokens.mint("at");
    for (let i = 0; i < token.length; i++) {
      const c = token[i] as string;
      const replacement = c === "A" ? "B" : "A";
      const tampered = token.slice(0, i) + replacement + token.slice(i + 1);
      expect(tokens.verify(tampered), `position ${i}`).toBe(false);
    }
  });

  it("binds the kind: an access token relabelled as a refresh token fails", () => {
    const token = tokens.mint("at");
    expect(tokens.verify(token, "rt")).toBe(false);
    expect(tokens.verify(token.replace("gh_at_", "gh_rt_"))).toBe(false);
  });

  it("keeps verifying tokens of a rotated secret, and new tokens need the new secret", () => {
    const before = tokens.mint("at");
    const rotated = createOpaqueTokens({ secrets: systemSecretsFrom([NEW, OLD]) });
    expect(rotated.verify(before)).toBe(true);
    const after = rotated.mint("at");
    expect(rotated.verify(after)).toBe(true);
    expect(tokens.verify(after)).toBe(false);
    expect(createOpaqueTokens({ secrets: systemSecretsFrom([NEW]) }).verify(before)).toBe(false);
  });

  it("refuses a token MAC'd under an unrelated secret", () => {
    const other = createOpaqueTokens({ secrets: systemSecretsFrom(["unrelated-secret-0123456789"]) });
    expect(tokens.verify(other.mint("at"))).toBe(false);
  });

  it("refuses malformed strings cheaply", () => {
    const token = tokens.mint("at");
    const bad: unknown[] = [
      "",
      "gh_at_",
      `${token}=`,
      `${token} `,
      ` ${token}`,
      token.replace(".", "_"),
      token.replace("gh_at_", "gh_xx_"),
      token.replace("gh_at_", "gh-at-"),
      `${token.slice(0, -1)}=`,
      `${token.slice(0, -1)}+`,
      "a".repeat(1_000_000),
      42,
      undefined,
      null,
    ];
    const started = performance.now();
    for (const b of bad) expect(tokens.verify(b as string)).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
    expect(() => tokens.storageId("gh_at_nope")).toThrow(/token/);
  });

  it("rejects a non-canonical spelling of the right signature", () => {
    // The last base64url character of 32 bytes carries 2 padding bits; flipping them keeps the bytes.
    const token = tokens.mint("dc");
    const last = token[token.length - 1] as string;
    const index = B64URL.indexOf(last);
    const sibling = B64URL[(index & ~3) | 1] as string;
    const variant = token.slice(0, -1) + sibling;
    expect(Buffer.from(variant.split(".")[1] as string, "base64url").equals(Buffer.from(token.split(".")[1] as string, "base64url"))).toBe(true);
    expect(tokens.verify(variant)).toBe(false);
  });

  it("maps a token to a stable storage id: hex SHA-384 of the signature, holding no part of the token", () => {
    const token = tokens.mint("rt");
    const [random, signature] = token.slice(6).split(".") as [string, string];
    const id = tokens.storageId(token);
    expect(id).toMatch(/^[0-9a-f]{96}$/);
    expect(id).toBe(tokens.storageId(token));
    expect(id).toBe(storageIdOf(token));
    expect(id).toBe(createHash("sha384").update(signature).digest("hex"));
    expect(id).not.toContain(random);
    expect(id).not.toContain(signature);
    expect(id.includes(token)).toBe(false);
    expect(tokens.storageId(tokens.mint("rt"))).not.toBe(id);
  });
});
