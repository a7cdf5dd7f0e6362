/**
 * The gateway's handler settings: Gatehouse's defaults (every handler enabled, the session, introspection,
 * token and JWKS endpoints pointing at this deployment's identity and OAuth2 services) with the operator's
 * Oathkeeper-shaped `authenticators` / `authorizers` / `mutators` / `errors` merged over them.
 */
import { InvalidArgumentError } from "../../common/errors.js";
import { isPlainObject, mergeHandlerConfig, type HandlerSetting, type PipelineSettings, type StageSettings } from "./pipeline/handler-settings.js";

/** Where this deployment's services answer, for the defaults. */
export interface LocalServiceUrls {
  /** The identity service's public base URL (whoami). */
  readonly identityPublic: string;
  /** The OAuth2 service's issuer / public URL (token endpoint, JWKS). */
  readonly oauth2Public: string;
  /** The OAuth2 service's admin URL (introspection). */
  readonly oauth2Admin: string;
  /** The gateway's own URL (issuer of its id_tokens). */
  readonly proxy: string;
}

type RawStage = Readonly<Record<string, unknown>>;

export interface RawHandlerSettings {
  readonly authenticators: RawStage;
  readonly authorizers: RawStage;
  readonly mutators: RawStage;
  /** `{fallback?: string[], handlers?: {<name>: {enabled, config}}}`. */
  readonly errors: RawStage;
}

const on = (config: Record<string, unknown> = {}): HandlerSetting => ({ enabled: true, config });

/** Gatehouse's defaults: what `npm start` serves with no proxy configuration. */
export function defaultHandlerSettings(urls: LocalServiceUrls): PipelineSettings {
  const whoami = `${urls.identityPublic.replace(/\/+$/, "")}/sessions/whoami`;
  // preserve_path: Oathkeeper otherwise replaces the check URL's path with the request's.
  const sessionDefaults = { check_session_url: whoami, preserve_path: true, force_method: "GET", subject_from: "identity.id", extra_from: "@this", cache: { enabled: true, ttl: "10s" } };
  return {
    authenticators: {
      noop: on(),
      anonymous: on({ subject: "anonymous" }),
      unauthorized: on(),
      cookie_session: on({ ...sessionDefaults, only: ["ory_kratos_session"] }),
      bearer_token: on(sessionDefaults),
      oauth2_introspection: on({ introspection_url: `${urls.oauth2Admin.replace(/\/+$/, "")}/admin/oauth2/introspect`, cache: { enabled: true, ttl: "10s" } }),
      oauth2_client_credentials: on({ token_url: `${urls.oauth2Public.replace(/\/+$/, "")}/oauth2/token` }),
      jwt: on({ jwks_urls: [`${urls.oauth2Public.replace(/\/+$/, "")}/.well-known/jwks.json`], allowed_algorithms: ["RS256", "ES256"] }),
    },
    authorizers: { allow: on(), deny: on(), remote_json: on(), permission: on(), keto_engine_acp_ory: on() },
    mutators: { noop: on(), header: on(), cookie: on(), id_token: on({ issuer_url: urls.proxy }), hydrator: on() },
    errors: { json: on(), redirect: on(), www_authenticate: on() },
    errorsFallback: ["json"],
  };
}

function mergeStage(defaults: StageSettings, raw: RawStage, path: string): StageSettings {
  const merged: Record<string, HandlerSetting> = { ...defaults };
  for (const [name, entry] of Object.entries(raw)) {
    if (!isPlainObject(entry)) throw new InvalidArgumentError(`${path}.${name}: expected {enabled, config}`, { details: { field: `${path}.${name}` } });
    for (const key of Object.keys(entry)) {
      if (key !== "enabled" && key !== "config") {
        throw new InvalidArgumentError(`${path}.${name}.${key}: unknown key (expected enabled and config)`, { details: { field: `${path}.${name}.${key}` } });
      }
    }
    const enabled = entry["enabled"];
    if (enabled !== undefined && typeof enabled !== "boolean") {
      throw new InvalidArgumentError(`${path}.${name}.enabled: expected true or false`, { details: { field: `${path}.${name}.enabled` } });
    }
    const config = entry["config"];
    if (config !== undefined && config !== null && !isPlainObject(config)) {
      throw new InvalidArgumentError(`${path}.${name}.config: expected a map`, { details: { field: `${path}.${name}.config` } });
    }
    const base = merged[name] ?? { enabled: false, config: {} };
    merged[name] = {
      enabled: enabled ?? base.enabled,
      config: mergeHandlerConfig(base.config, isPlainObject(config) ? config : undefined),
    };
  }
  return merged;
}

/** The defaults with the operator's settings merged over them; errors name the configuration key. */
export function pipelineSettingsOf(raw: RawHandlerSettings, defaults: PipelineSettings): PipelineSettings {
  const errors = raw.errors;
  for (const key of Object.keys(errors)) {
    if (key !== "fallback" && key !== "handlers") {
      throw new InvalidArgumentError(`proxy.errors.${key}: unknown key (expected fallback and handlers)`, { details: { field: `proxy.errors.${key}` } });
    }
  }
  const fallback = errors["fallback"];
  if (fallback !== undefined && (!Array.isArray(fallback) || !fallback.every((f) => typeof f === "string") || fallback.length === 0)) {
    throw new InvalidArgumentError("proxy.errors.fallback: expected a non-empty list of error handler names", { details: { field: "proxy.errors.fallback" } });
  }
  const handlers = errors["handlers"];
  if (handlers !== undefined && !isPlainObject(handlers)) {
    throw new InvalidArgumentError("proxy.errors.handlers: expected a map of handler settings", { details: { field: "proxy.errors.handlers" } });
  }
  return {
    authenticators: mergeStage(defaults.authenticators, raw.authenticators, "proxy.authenticators"),
    authorizers: mergeStage(defaults.authorizers, raw.authorizers, "proxy.authorizers"),
    mutators: mergeStage(defaults.mutators, raw.mutators, "proxy.mutators"),
    errors: mergeStage(defaults.errors, isPlainObject(handlers) ? handlers : {}, "proxy.errors.handlers"),
    errorsFallback: (fallback as string[] | undefined) ?? defaults.errorsFallback,
  };
}
