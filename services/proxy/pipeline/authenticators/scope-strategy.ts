/**
 * OAuth 2.0 scope matching as Fosite (and so Hydra and Oathkeeper) defines it. Each strategy answers "does
 * the granted list satisfy this one required scope?".
 */
import type { ConfigReader } from "../config-reader.js";

export const SCOPE_STRATEGIES = ["none", "hierarchic", "exact", "wildcard"] as const;
export type ScopeStrategyName = (typeof SCOPE_STRATEGIES)[number];

export type ScopeMatcher = (granted: readonly string[], required: string) => boolean;

/** `foo` grants `foo` and everything below it (`foo.bar`, `foo.bar.baz`), not `foobar`. */
export function hierarchicScope(granted: readonly string[], required: string): boolean {
  return granted.some((g) => g === required || required.startsWith(`${g}.`));
}

export function exactScope(granted: readonly string[], required: string): boolean {
  return granted.includes(required);
}

/**
 * `*` stands for one non-empty dot-separated part; a trailing `*` also covers any deeper parts
 * (`foo.*` grants `foo.bar` and `foo.bar.baz`, not `foo`).
 */
export function wildcardScope(granted: readonly string[], required: string): boolean {
  const need = required.split(".");
  return granted.some((g) => {
    const pattern = g.split(".");
    if (pattern.length > need.length) return false;
    for (let i = 0; i < pattern.length; i++) {
      const part = pattern[i] as string;
      const wanted = need[i] as string;
      const last = i === pattern.length - 1;
      if (last && pattern.length !== need.length && part !== "*") return false;
      if (part === "*" && wanted.length > 0) continue;
      if (part !== wanted) return false;
    }
    return true;
  });
}

/** The matcher of a strategy; `none` has none (scopes are then not checked locally). */
export function scopeMatcher(name: ScopeStrategyName): ScopeMatcher | undefined {
  switch (name) {
    case "hierarchic":
      return hierarchicScope;
    case "exact":
      return exactScope;
    case "wildcard":
      return wildcardScope;
    case "none":
      return undefined;
  }
}

/** `scope_strategy` (default `none`, as Oathkeeper's schema). */
export function readScopeStrategy(reader: ConfigReader): ScopeStrategyName {
  return reader.oneOf("scope_strategy", SCOPE_STRATEGIES) ?? "none";
}

/** The first required scope the granted list does not satisfy, if any. */
export function missingScope(matcher: ScopeMatcher, granted: readonly string[], required: readonly string[]): string | undefined {
  return required.find((scope) => !matcher(granted, scope));
}
