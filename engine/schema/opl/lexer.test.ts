import { describe, expect, it } from "vitest";
import { describeToken, lexOpl } from "./lexer.js";

const summary = (text: string) => lexOpl(text).tokens.map((t) => `${t.kind}:${t.value}`);

describe("lexOpl", () => {
  it("tokenizes identifiers, strings, numbers and punctuation with 1-based positions", () => {
    const { tokens, diagnostics } = lexOpl('class A {\n  "x y": B[] 42\n}');
    expect(diagnostics).toEqual([]);
    expect(tokens.map((t) => `${t.kind}:${t.value}`)).toEqual([
      "ident:class",
      "ident:A",
      "punct:{",
      "string:x y",
      "punct::",
      "ident:B",
      "punct:[",
      "punct:]",
      "number:42",
      "punct:}",
      "eof:",
    ]);
    const str = tokens[3];
    expect(str?.start).toEqual({ line: 2, column: 3 });
    expect(str?.end).toEqual({ line: 2, column: 7 });
    expect(str?.text).toBe('"x y"');
    expect(tokens[10]?.start).toEqual({ line: 3, column: 2 });
  });

  it("prefers the longest operator and keeps >> as two tokens", () => {
    expect(summary("=> === == != !== || && ! = | & >>")).toEqual([
      "punct:=>",
      "punct:===",
      "punct:==",
      "punct:!=",
      "punct:!==",
      "punct:||",
      "punct:&&",
      "punct:!",
      "punct:=",
      "punct:|",
      "punct:&",
      "punct:>",
      "punct:>",
      "eof:",
    ]);
  });

  it("skips line and block comments", () => {
    expect(summary("a // b c\n/* d\n e */ f")).toEqual(["ident:a", "ident:f", "eof:"]);
  });

  it("marks the first token of each line", () => {
    const tokens = lexOpl("a b\n c\n\nd e").tokens;
    // The eof token sits on the line of "e", so it does not start a line.
    expect(tokens.map((t) => t.lineStart)).toEqual([true, false, true, true, false, false]);
  });

  it("decodes escapes in single- and double-quoted strings", () => {
    const [a, b] = lexOpl(`'it\\'s' "q\\"\\n"`).tokens;
    expect(a?.value).toBe("it's");
    expect(b?.value).toBe('q"\n');
  });

  it("reports an unclosed block comment at its start, ending at the last character", () => {
    const { tokens, diagnostics } = lexOpl("class A\n  /* never\nclosed");
    expect(tokens.map((t) => t.value)).toEqual(["class", "A", ""]);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({
      severity: "error",
      construct: "syntax",
      start: { line: 2, column: 3 },
      end: { line: 3, column: 6 },
    });
    expect(diagnostics[0]?.message).toContain("unclosed block comment");
  });

  it("reports an unterminated string at its opening quote", () => {
    const { tokens, diagnostics } = lexOpl('x "abc\ny');
    expect(diagnostics[0]).toMatchObject({ start: { line: 1, column: 3 }, end: { line: 1, column: 6 } });
    expect(tokens.map((t) => t.value)).toEqual(["x", "abc", "y", ""]);
  });

  it("describes tokens for messages", () => {
    const [ident, str, punct, eof] = lexOpl('foo "bar" {').tokens;
    expect(ident && describeToken(ident)).toBe('"foo"');
    expect(str && describeToken(str)).toBe('string "bar"');
    expect(punct && describeToken(punct)).toBe('"{"');
    expect(eof && describeToken(eof)).toBe("end of input");
  });
});
