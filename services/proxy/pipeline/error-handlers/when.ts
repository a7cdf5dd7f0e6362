/**
 * Oathkeeper's `when` clauses of error handlers: a handler is chosen when any clause holds; a clause holds
 * when every condition it states does (error kind, client address range, request content type, what the
 * client accepts). No `when` at all selects every error.
 */
import { GatehouseError, httpStatusOf } from "../../../../common/errors.js";
import { trustedProxies, type TrustedProxies } from "../../front/forwarded.js";
import { ConfigReader } from "../config-reader.js";
import { errorNameOfStatus } from "../errors.js";
import type { PipelineRequest } from "../types.js";

interface WhenClause {
  readonly errors: ReadonlySet<string> | undefined;
  readonly remoteIp: { readonly ranges: TrustedProxies; readonly respectForwardedFor: boolean } | undefined;
  readonly contentTypes: readonly string[] | undefined;
  readonly accepts: readonly string[] | undefined;
}

export type WhenMatcher = (error: GatehouseError, request: PipelineRequest) => boolean;

/** Compiles the `when` list of a handler's config. */
export function compileWhen(config: ConfigReader): WhenMatcher {
  const raw = config.raw("when");
  if (raw === undefined || raw === null) return () => true;
  if (!Array.isArray(raw)) throw config.error("when", "must be a list of conditions");
  const clauses = raw.map((entry, i) => compileClause(entry, config, `when[${i}]`));
  if (clauses.length === 0) return () => true;
  return (error, request) => clauses.some((clause) => clauseHolds(clause, error, request));
}

function compileClause(entry: unknown, parent: ConfigReader, key: string): WhenClause {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw parent.error(key, "must be an object");
  const clause = new ConfigReader(entry as Record<string, unknown>, parent.where, `config.${key}`);
  const errors = clause.stringList("error");
  const request = clause.child("request");
  const remote = request.child("remote_ip");
  const header = request.child("header");
  const ranges = remote.stringList("match");
  let compiledRanges: TrustedProxies | undefined;
  if (ranges !== undefined) {
    try {
      compiledRanges = trustedProxies(ranges, `${parent.where}: config.${key}.request.remote_ip.match`);
    } catch (error) {
      throw error instanceof GatehouseError ? error : parent.error(`${key}.request.remote_ip.match`, "is invalid");
    }
  }
  return {
    errors: errors === undefined ? undefined : new Set(errors),
    remoteIp: compiledRanges === undefined ? undefined : { ranges: compiledRanges, respectForwardedFor: remote.boolean("respect_forwarded_for_header") ?? false },
    contentTypes: header.stringList("content_type")?.map((t) => t.toLowerCase()),
    accepts: header.stringList("accept")?.map((t) => t.toLowerCase()),
  };
}

function clauseHolds(clause: WhenClause, error: GatehouseError, request: PipelineRequest): boolean {
  if (clause.errors !== undefined && !clause.errors.has(errorNameOfStatus(httpStatusOf(error)))) return false;
  if (clause.remoteIp !== undefined) {
    const { ranges, respectForwardedFor } = clause.remoteIp;
    const addresses = [request.remoteAddress];
    if (respectForwardedFor) addresses.push(...headerValues(request, "x-forwarded-for").flatMap((v) => v.split(",")).map((a) => a.trim()));
    if (!addresses.some((a) => a !== "" && ranges.has(a))) return false;
  }
  if (clause.contentTypes !== undefined) {
    const type = (headerValues(request, "content-type")[0] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (!clause.contentTypes.includes(type)) return false;
  }
  if (clause.accepts !== undefined) {
    const accept = headerValues(request, "accept").join(",");
    if (negotiate(accept, clause.accepts) === undefined) return false;
  }
  return true;
}

function headerValues(request: PipelineRequest, name: string): string[] {
  const value = request.headers[name];
  if (value === undefined) return [];
  return typeof value === "string" ? [value] : [...value];
}

interface MediaRange {
  readonly type: string;
  readonly subtype: string;
  readonly q: number;
}

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(",")) {
    const [media = "", ...params] = part.split(";").map((p) => p.trim());
    if (media === "") continue;
    const [type = "", subtype = "*"] = media.toLowerCase().split("/");
    let q = 1;
    for (const param of params) {
      const [name, value] = param.split("=").map((x) => x.trim());
      if (name === "q" && value !== undefined) q = Number.isFinite(Number(value)) ? Number(value) : 0;
    }
    ranges.push({ type, subtype, q });
  }
  return ranges;
}

/**
 * The offered type the `Accept` header prefers (highest q, most specific range first), or undefined when it
 * accepts none of them. An absent header accepts nothing here, so `accept` clauses only select clients that
 * said what they want.
 */
export function negotiate(acceptHeader: string, offers: readonly string[]): string | undefined {
  const ranges = parseAccept(acceptHeader);
  let best: { offer: string; q: number; specificity: number } | undefined;
  for (const offer of offers) {
    const [type = "", subtype = ""] = offer.split("/");
    let q = -1;
    let specificity = -1;
    for (const range of ranges) {
      const s = range.type === type && range.subtype === subtype ? 2 : range.type === type && range.subtype === "*" ? 1 : range.type === "*" ? 0 : -1;
      if (s > specificity) {
        specificity = s;
        q = range.q;
      }
    }
    if (q > 0 && (best === undefined || q > best.q)) best = { offer, q, specificity };
  }
  return best?.offer;
}
