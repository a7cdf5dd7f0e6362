/**
 * Who is asking, and for what: the client address and the addressed URL of an HTTP request, taking
 * `X-Forwarded-*` into account only when the connection comes from a configured trusted proxy (Oathkeeper's
 * decisions API trusts them from anyone, so its port must be hidden; Gatehouse checks the peer instead).
 */
import { BlockList, isIP } from "node:net";
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { InvalidArgumentError } from "../../../common/errors.js";

/** A set of CIDR ranges (IPv4 and IPv6). */
export interface TrustedProxies {
  readonly cidrs: readonly string[];
  has(address: string): boolean;
  /** Whether a connection's peer is in the set; remembered per connection (keep-alive asks once). */
  hasPeer(socket: { readonly remoteAddress?: string | undefined }): boolean;
}

/** Loopback and private ranges: where nginx, Traefik or an Envoy sidecar talk to the decisions port from. */
export const LOOPBACK_AND_PRIVATE: readonly string[] = [
  "127.0.0.0/8",
  "::1/128",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "fc00::/7",
];

/** Parses CIDRs (a bare address means that one host); `field` names the setting in errors. */
export function trustedProxies(cidrs: readonly string[], field = "trusted_proxies"): TrustedProxies {
  const list = new BlockList();
  for (const [i, cidr] of cidrs.entries()) {
    const [address = "", bits] = cidr.trim().split("/");
    const family = isIP(address);
    if (family === 0) throw new InvalidArgumentError(`${field}[${i}]: "${cidr}" is not an IP address or CIDR range`, { details: { field } });
    const type = family === 4 ? "ipv4" : "ipv6";
    const max = family === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) {
      throw new InvalidArgumentError(`${field}[${i}]: "${cidr}" has an invalid prefix length`, { details: { field } });
    }
    list.addSubnet(address, prefix, type);
  }
  const empty = cidrs.length === 0;
  const has = (address: string): boolean => {
    if (empty) return false;
    const plain = stripMappedPrefix(address);
    const family = isIP(plain);
    if (family === 0) return false;
    return list.check(plain, family === 4 ? "ipv4" : "ipv6");
  };
  // BlockList.check builds a SocketAddress per call: too dear to repeat for every request of a connection.
  const peers = new WeakMap<object, boolean>();
  return {
    cidrs: Object.freeze([...cidrs]),
    has,
    hasPeer(socket) {
      if (empty) return false;
      let trusted = peers.get(socket);
      if (trusted === undefined) {
        trusted = has(socket.remoteAddress ?? "");
        peers.set(socket, trusted);
      }
      return trusted;
    },
  };
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) as `10.0.0.1`. */
function stripMappedPrefix(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v === undefined || v === "" ? undefined : v.trim();
}

/**
 * The client's address: the peer, or, when the peer is a trusted proxy, the right-most `X-Forwarded-For` hop
 * that is not itself a trusted proxy (hops left of an untrusted one could be forged).
 */
export function clientAddress(req: IncomingMessage, trusted: TrustedProxies): string {
  const peer = stripMappedPrefix(req.socket.remoteAddress ?? "");
  if (!trusted.hasPeer(req.socket)) return peer;
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : header ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h !== "");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = stripMappedPrefix(hops[i] as string);
    if (isIP(hop) === 0) return peer;
    if (!trusted.has(hop)) return hop;
  }
  return hops.length > 0 ? stripMappedPrefix(hops[0] as string) : peer;
}

/** Whether the request's peer may set `X-Forwarded-*`. */
export function fromTrustedProxy(req: IncomingMessage, trusted: TrustedProxies): boolean {
  return trusted.hasPeer(req.socket);
}

/** `http` or `https` as the client used it. */
export function requestScheme(req: IncomingMessage, trustForwarded: boolean): string {
  const forwarded = trustForwarded ? firstHeader(req.headers["x-forwarded-proto"])?.split(",")[0]?.trim().toLowerCase() : undefined;
  if (forwarded === "http" || forwarded === "https") return forwarded;
  return (req.socket as TLSSocket).encrypted === true ? "https" : "http";
}

/** The host (and port) the client addressed. */
export function requestHost(req: IncomingMessage, trustForwarded: boolean): string {
  const forwarded = trustForwarded ? firstHeader(req.headers["x-forwarded-host"])?.split(",")[0]?.trim() : undefined;
  const host = forwarded ?? firstHeader(req.headers.host) ?? "";
  if (host === "") throw new InvalidArgumentError("the request has no Host header", { reason: "missing_host", details: { field: "Host" } });
  return host;
}

/** Builds `scheme://host` + a path-and-query into a URL, refusing what does not parse. */
export function addressedUrl(scheme: string, host: string, pathAndQuery: string): URL {
  const path = pathAndQuery.startsWith("/") ? pathAndQuery : `/${pathAndQuery}`;
  // `//evil` as a path would make the URL parser read a new authority; keep it a path.
  const safePath = path.replace(/^\/{2,}/, "/");
  try {
    const url = new URL(`${scheme}://${host}${safePath}`);
    if (url.host.toLowerCase() !== host.toLowerCase() && url.host !== host.replace(/:(80|443)$/, "")) {
      throw new Error("host mismatch");
    }
    return url;
  } catch {
    throw new InvalidArgumentError(`the request URL "${scheme}://${host}${safePath}" is not a valid URL`, { reason: "invalid_request_url" });
  }
}
