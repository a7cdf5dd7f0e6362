/**
 * The gateway-wide handler settings, in Oathkeeper's configuration shape
 * (`authenticators.<name>.{enabled,config}`, likewise `authorizers`, `mutators`, `errors`, plus
 * `errors.fallback`), and the merge of a rule's `config` over the global one (maps merge key by key, anything
 * else is replaced, as koanf merges).
 */
export interface HandlerSetting {
  readonly enabled: boolean;
  readonly config: Readonly<Record<string, unknown>>;
}

export type StageSettings = Readonly<Record<string, HandlerSetting>>;

export interface PipelineSettings {
  readonly authenticators: StageSettings;
  readonly authorizers: StageSettings;
  readonly mutators: StageSettings;
  readonly errors: StageSettings;
  /** Error handlers used when no rule handler's `when` selects the error (default `["json"]`). */
  readonly errorsFallback: readonly string[];
}

/** A map (not null, not a list). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** `override` deep-merged over `base`: nested maps merge, other values (lists included) replace. */
export function mergeHandlerConfig(
  base: Readonly<Record<string, unknown>>,
  override: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  if (override === undefined) return merged;
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? mergeHandlerConfig(current, value) : value;
  }
  return merged;
}
