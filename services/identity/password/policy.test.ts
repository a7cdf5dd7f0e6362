import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../common/errors.js";
import {
  checkPassword,
  createBreachedPasswordList,
  levenshtein,
  loadBreachedPasswordList,
  longestCommonSubstring,
  tooSimilar,
} from "./policy.js";

const ids = (errors: ReturnType<typeof checkPassword>) => errors.map((e) => e.id);
const sha1 = (s: string) => createHash("sha1").update(s, "utf8").digest("hex");

describe("checkPassword: length", () => {
  it("requires 8 characters by default, counting code points", () => {
    expect(checkPassword("sevench", [])).toEqual([
      {
        id: 4000032,
        text: "The password must have at least 8 characters, but it has 7.",
        type: "error",
        context: { min_length: 8, actual_length: 7 },
      },
    ]);
    expect(checkPassword("eight ch", [])).toEqual([]);
    expect(ids(checkPassword("🔑🔑🔑🔑🔑🔑🔑", []))).toEqual([4000032]); // 7 characters, 14 UTF-16 units
    expect(checkPassword("🔑🔑🔑🔑🔑🔑🔑🔑", [])).toEqual([]);
    expect(ids(checkPassword("", []))).toEqual([4000032]);
  });

  it("takes a configured minimum", () => {
    expect(ids(checkPassword("twelve chars", [], { minLength: 13 }))).toEqual([4000032]);
    expect(checkPassword("twelve chars", [], { minLength: 12 })).toEqual([]);
    expect(() => checkPassword("x", [], { minLength: 0 })).toThrow(InvalidArgumentError);
  });

  it("allows at most 72 bytes of UTF-8", () => {
    expect(checkPassword("a".repeat(72), [])).toEqual([]);
    expect(checkPassword("a".repeat(73), [])).toEqual([
      {
        id: 4000033,
        text: "The password must be at most 72 bytes long, but it is 73 bytes long.",
        type: "error",
        context: { max_length: 72, actual_length: 73 },
      },
    ]);
    // 25 characters, 75 bytes
    expect(ids(checkPassword("€".repeat(25), []))).toEqual([4000033]);
    expect(checkPassword("€".repeat(24), [])).toEqual([]);
  });
});

describe("checkPassword: identifier similarity", () => {
  it("rejects passwords within edit distance 5 of an identifier, ignoring case", () => {
    expect(ids(checkPassword("alice@example.com", ["alice@example.com"]))).toEqual([4000031]);
    expect(ids(checkPassword("Alice@Example.com!1", ["alice@example.com"]))).toEqual([4000031]);
    expect(ids(checkPassword("alice_smith", ["alice_smyth1"]))).toEqual([4000031]);
  });

  it("rejects passwords more than half made of an identifier's substring", () => {
    // "example" (7) of 13 characters
    expect(ids(checkPassword("example-2024!", ["john@example.com"]))).toEqual([4000031]);
    // "johnny" (6) of 12 is exactly half: allowed
    expect(checkPassword("johnny+7$Qz!", ["johnny"])).toEqual([]);
  });

  it("accepts unrelated passwords and checks every identifier", () => {
    expect(checkPassword("correct horse battery staple", ["alice@example.com", "alice"])).toEqual([]);
    expect(ids(checkPassword("bobby-tables", ["alice@example.com", "bobby-tables"]))).toEqual([4000031]);
  });

  it("skips operands longer than 256 bytes, empty identifiers, and can be switched off", () => {
    const long = "x".repeat(257);
    expect(tooSimilar(long, long)).toBe(false);
    expect(tooSimilar("", "password")).toBe(false);
    expect(checkPassword("alice@example.com", ["alice@example.com"], { identifierSimilarityCheck: false })).toEqual([]);
  });

  it("computes edit distance and longest common substring over code points", () => {
    const cp = (s: string) => [...s];
    expect(levenshtein(cp("kitten"), cp("sitting"))).toBe(3);
    expect(levenshtein(cp(""), cp("abc"))).toBe(3);
    expect(levenshtein(cp("🔑a"), cp("🔑b"))).toBe(1);
    expect(longestCommonSubstring(cp("abcdef"), cp("zcdez"))).toBe(3);
    expect(longestCommonSubstring(cp("abc"), cp("xyz"))).toBe(0);
    expect(longestCommonSubstring(cp("mississippi"), cp("ssissip"))).toBe(7);
  });
});

describe("checkPassword: breached passwords", () => {
  it("rejects passwords on the list, given as plain text or SHA-1 (HIBP style)", () => {
    const list = createBreachedPasswordList([
      "password123",
      `${sha1("Tr0ub4dor&3").toUpperCase()}:4711`,
      sha1("qwertyuiop"),
      "# a comment",
      "",
      "  spaced entry  ",
    ]);
    expect(list.size).toBe(4);
    expect(list.has("password123")).toBe(true);
    expect(list.has("Tr0ub4dor&3")).toBe(true);
    expect(list.has("qwertyuiop")).toBe(true);
    expect(list.has("spaced entry")).toBe(true);
    expect(list.has("Password123")).toBe(false);
    expect(checkPassword("password123", [], { breachedPasswords: list })).toEqual([
      {
        id: 4000034,
        text: "This password appears in known data breaches and can no longer be used. Choose a different one.",
        type: "error",
      },
    ]);
    expect(checkPassword("a fine passphrase", [], { breachedPasswords: list })).toEqual([]);
  });

  it("loads a list file line by line (CRLF too)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gatehouse-breached-"));
    try {
      const file = join(dir, "list.txt");
      await writeFile(file, `letmein123\r\n${sha1("iloveyou!").toUpperCase()}:12\r\n\r\n# end\r\n`);
      const list = await loadBreachedPasswordList(file);
      expect(list.size).toBe(2);
      expect(list.has("letmein123")).toBe(true);
      expect(list.has("iloveyou!")).toBe(true);
      await expect(loadBreachedPasswordList(join(dir, "missing.txt"))).rejects.toBeInstanceOf(InvalidArgumentError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reports every violated rule in order", () => {
    const list = createBreachedPasswordList(["bob"]);
    expect(ids(checkPassword("bob", ["bob"], { breachedPasswords: list }))).toEqual([4000032, 4000031, 4000034]);
  });
});
