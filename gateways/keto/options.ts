/**
 * Options shared by Keto's gRPC services and REST handler, with Keto's documented defaults
 * (`embedx/config.schema.json`, reference §1.5) so that an unconfigured gateway behaves like an unconfigured Keto.
 */
import type { PermissionEngine } from "../../engine/permission-engine.js";
import { packageVersion } from "../server/version.js";

/** Keto's `limit.max_read_depth` default. */
export const KETO_DEFAULT_MAX_READ_DEPTH = 5;
/** Keto's `limit.max_batch_check_size` default. */
export const KETO_DEFAULT_MAX_BATCH_CHECK_SIZE = 10;
/** Keto's `limit.max_expand_size` default (also the engine's node cap). */
export const KETO_DEFAULT_MAX_EXPAND_SIZE = 4000;
/** Keto's list page size default and maximum (`keysetpagination` `DefaultSize` / `DefaultMaxSize`). */
export const KETO_DEFAULT_PAGE_SIZE = 100;
export const KETO_MAX_PAGE_SIZE = 500;

/** Options of the Keto gateway (both transports). */
export interface KetoGatewayOptions {
  /** The engine every call goes through. */
  engine: PermissionEngine;
  /**
   * Global depth limit (Keto's `limit.max_read_depth`, default 5). A request depth <= 0 or above it means it
   * (Q4). The engine clamps again to its own `maxDepth`.
   */
  maxReadDepth?: number;
  /** Most tuples one BatchCheck may carry (Keto's `limit.max_batch_check_size`, default 10). */
  maxBatchCheckSize?: number;
  /** Node cap of Expand (Keto's `limit.max_expand_size`, default 4,000). */
  maxExpandSize?: number;
  /**
   * Keto's strict-mode limit behaviour (Q5): when true, a check that runs out of depth is an error (422 /
   * the engine's gRPC code); when false (Keto's non-strict default), it answers "not allowed".
   */
  strictLimits?: boolean;
  /** The version GetVersion reports; default package.json's. */
  version?: string;
}

/** Options with every default filled in. */
export interface ResolvedKetoOptions {
  engine: PermissionEngine;
  maxReadDepth: number;
  maxBatchCheckSize: number;
  maxExpandSize: number;
  strictLimits: boolean;
  version: string;
}

/** Fills in Keto's defaults. */
export function resolveKetoOptions(options: KetoGatewayOptions): ResolvedKetoOptions {
  return {
    engine: options.engine,
    maxReadDepth: options.maxReadDepth ?? KETO_DEFAULT_MAX_READ_DEPTH,
    maxBatchCheckSize: options.maxBatchCheckSize ?? KETO_DEFAULT_MAX_BATCH_CHECK_SIZE,
    maxExpandSize: options.maxExpandSize ?? KETO_DEFAULT_MAX_EXPAND_SIZE,
    strictLimits: options.strictLimits ?? false,
    version: options.version ?? packageVersion,
  };
}

/** Keto's depth rule (Q4): a request depth <= 0, or one above the global limit, means the global limit. */
export function clampDepth(requested: number, global: number): number {
  return requested <= 0 || requested > global ? global : requested;
}
