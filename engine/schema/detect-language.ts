import type { SchemaLanguage } from "./ir.js";

/**
 * Guesses the language of a schema text: OpenFGA models start (after comments) with `model` or `type`;
 * OPL has a `class` keyword somewhere (Keto skips everything before the first one).
 */
export function detectSchemaLanguage(text: string): SchemaLanguage {
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("//")) continue;
    if (/^(model|type|module|schema)\b/.test(line)) return "fga";
    break;
  }
  return "opl";
}
