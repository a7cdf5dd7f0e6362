/**
 * Hydra's admin endpoints for OAuth2 clients:
 *
 * | route | answer |
 * |---|---|
 * | `GET /admin/clients` (`page_size`, `page_token`, `client_name`, `owner`) | 200, array; `Link` header (`first`, `next`) |
 * | `POST /admin/clients` | 201 + `Location`; the plain `client_secret` appears in this answer only |
 * | `GET /admin/clients/{id}` | 200 |
 * | `PUT /admin/clients/{id}` | 200; full replacement, the stored secret is kept unless one is sent |
 * | `PATCH /admin/clients/{id}` | 200; RFC 6902 JSON Patch over the client's JSON |
 * | `DELETE /admin/clients/{id}` | 204 |
 * | `PUT /admin/clients/{id}/lifespans` | 200; sets the `*_lifespan` members only |
 * | `POST /admin/clients/{id}/secrets/rotate` | 200; new secret (echoed once), the old one stays valid (up to 5 kept) |
 * | `DELETE /admin/clients/{id}/secrets/rotate` | 200; forgets the rotated secrets |
 *
 * Every route is registered twice, with and without the `/admin` prefix: Hydra's admin listener adds
 * `/admin` to paths that lack it, so legacy callers of `/clients` keep working.
 *
 * Admin API keys: when keys are configured every route needs `Authorization: Bearer <key>` (401 otherwise),
 * checked before anything else, as the identity admin plane does.
 *
 * A new secret (given, generated, or rotated) is hashed before it is stored and echoed in that one answer;
 * sending a new `client_secret` through PUT or PATCH clears the rotated secrets (Hydra's documented rule),
 * only the rotate endpoint keeps the old secret valid.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { AlreadyExistsError, GatehouseError, NotFoundError } from "../../../common/errors.js";
import type { ApiKeyVerifier } from "../../../gateways/auth/api-keys.js";
import { bearerToken } from "../../../gateways/auth/api-keys.js";
import { applyJsonPatch, JsonPatchError, parseJsonPatch } from "../../identity/api/json-patch.js";
import { generateClientSecret, hashClientSecret } from "../clients/client-secrets.js";
import { hydraTimestamp, invalidClientMetadata, MAX_ROTATED_SECRETS, parseLifespans, prepareClient, publicClientJson } from "../clients/client-validation.js";
import type { HydraClient } from "../clients/hydra-client.js";
import type { ClientStore } from "../store/oauth2-store.js";
import { invalidRequest, OAuth2HttpError, readJson, readJsonObject, sendJson, sendNoContent, type Route } from "./http-io.js";

/** What the client routes work with. */
export interface ClientRoutesOptions {
  readonly clients: ClientStore;
  /** Admin API keys; none configured = open (Hydra's admin port has no authentication of its own). */
  readonly keys: ApiKeyVerifier;
  /** Called after a client was created, replaced, patched, had its secrets rotated, or was deleted (cache invalidation). */
  readonly onClientChanged?: (clientId: string) => void;
  /** Called after a client was deleted, before answering (revoke its tokens and grants). */
  readonly onClientDeleted?: (clientId: string) => Promise<void>;
  /** Hashes a new secret; default PBKDF2-SHA-256 with 25,000 iterations. */
  readonly hashSecret?: (secret: string) => Promise<string>;
  /** Subject types the server supports; default public and pairwise. */
  readonly subjectTypesSupported?: readonly string[];
  /** Scope of clients registered without one; default "offline_access offline openid". */
  readonly defaultScope?: string;
  /** The clock; default `new Date()`. */
  readonly now?: () => Date;
}

/** Default and largest `page_size` of the list. */
export const DEFAULT_CLIENT_PAGE_SIZE = 250;
export const MAX_CLIENT_PAGE_SIZE = 500;

/** Hydra's 404 for a missing client (`error` is herodot's "Unable to locate the resource"). */
export const clientNotFound = (id: string): OAuth2HttpError =>
  new OAuth2HttpError(404, "Unable to locate the resource", `The OAuth 2.0 client with id "${id}" does not exist.`);

/** The admin client routes, each under `/admin/clients...` and `/clients...`. */
export function clientRoutes(options: ClientRoutesOptions): Route[] {
  const { clients, keys } = options;
  const hashSecret = options.hashSecret ?? ((secret: string) => hashClientSecret(secret));
  const now = options.now ?? (() => new Date());
  const changed = (id: string): void => options.onClientChanged?.(id);
  const modeExtras = {
    ...(options.subjectTypesSupported === undefined ? {} : { subjectTypesSupported: options.subjectTypesSupported }),
    ...(options.defaultScope === undefined ? {} : { defaultScope: options.defaultScope }),
  };

  const authorize = (req: IncomingMessage): void => keys.verify(bearerToken(req.headers.authorization));

  const load = async (id: string): Promise<HydraClient> => {
    const client = await clients.getClient(id);
    if (client === undefined) throw clientNotFound(id);
    return client;
  };

  /** Stores a replacement; a client deleted meanwhile is a 404. */
  const replace = async (client: HydraClient): Promise<void> => {
    try {
      await clients.updateClient(client);
    } catch (err) {
      if (err instanceof NotFoundError) throw clientNotFound(client.client_id);
      throw err;
    }
    changed(client.client_id);
  };

  const answer = (client: HydraClient, plainSecret: string | undefined): Record<string, unknown> => {
    const body = publicClientJson(client);
    return plainSecret === undefined ? body : { ...body, client_secret: plainSecret };
  };

  type Handler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, url: URL) => Promise<void>;
  const routes: { method: string; path: string; handle: Handler }[] = [];
  const add = (method: string, path: string, handle: Handler): void => {
    const guarded: Handler = async (req, res, params, url) => {
      authorize(req);
      await handle(req, res, params, url);
    };
    routes.push({ method, path: `/admin${path}`, handle: guarded }, { method, path, handle: guarded });
  };

  add("GET", "/clients", async (_req, res, _params, url) => {
    const q = url.searchParams;
    const sizeText = q.get("page_size");
    let pageSize = DEFAULT_CLIENT_PAGE_SIZE;
    if (sizeText !== null && sizeText !== "") {
      if (!/^\d+$/.test(sizeText) || Number(sizeText) < 1) {
        throw invalidRequest(`Unable to parse pagination parameters: page_size must be a positive integer, got "${sizeText}".`);
      }
      pageSize = Math.min(Number(sizeText), MAX_CLIENT_PAGE_SIZE);
    }
    const pageToken = q.get("page_token") ?? "";
    const clientName = q.get("client_name") ?? "";
    const owner = q.get("owner") ?? "";
    let page;
    try {
      page = await clients.listClients({
        pageSize,
        ...(pageToken === "" ? {} : { pageToken }),
        ...(clientName === "" ? {} : { clientName }),
        ...(owner === "" ? {} : { owner }),
      });
    } catch (err) {
      if (err instanceof GatehouseError && err.code === "invalid_argument") throw invalidRequest(`Unable to parse pagination parameters: ${err.message}`);
      throw err;
    }
    const link = (rel: string, token: string | undefined): string => {
      const params = new URLSearchParams(url.searchParams);
      params.set("page_size", String(pageSize));
      if (token === undefined) params.delete("page_token");
      else params.set("page_token", token);
      return `<${url.pathname}?${params.toString()}>; rel="${rel}"`;
    };
    const links = [link("first", undefined)];
    if (page.nextPageToken !== undefined) links.push(link("next", page.nextPageToken));
    sendJson(res, 200, page.items.map(publicClientJson), { link: links.join(",") });
  });

  add("POST", "/clients", async (req, res) => {
    const body = await readJsonObject(req);
    const { client, plainSecret } = await prepareClient(body, { creating: true, now: now(), ...modeExtras }, hashSecret);
    try {
      await clients.createClient(client);
    } catch (err) {
      if (err instanceof AlreadyExistsError) {
        throw new OAuth2HttpError(409, "conflict", `An OAuth 2.0 client with client_id "${client.client_id}" already exists.`);
      }
      throw err;
    }
    changed(client.client_id);
    sendJson(res, 201, answer(client, plainSecret), { location: `/admin/clients/${encodeURIComponent(client.client_id)}` });
  });

  add("GET", "/clients/{id}", async (_req, res, params) => {
    sendJson(res, 200, publicClientJson(await load(params["id"] ?? "")));
  });

  add("PUT", "/clients/{id}", async (req, res, params) => {
    const body = await readJsonObject(req);
    const existing = await load(params["id"] ?? "");
    const { client, plainSecret } = await prepareClient(body, { creating: false, existing, now: now(), ...modeExtras }, hashSecret);
    await replace(client);
    sendJson(res, 200, answer(client, plainSecret));
  });

  add("PATCH", "/clients/{id}", async (req, res, params) => {
    const id = params["id"] ?? "";
    const document = await readJson(req);
    let operations;
    try {
      operations = parseJsonPatch(document);
    } catch (err) {
      if (err instanceof JsonPatchError) throw invalidRequest(`The JSON Patch is not valid: ${err.message}`);
      throw err;
    }
    const existing = await load(id);
    // The document the patch applies to: the client's JSON with an empty `client_secret`, so a patch can
    // `replace` the secret (as with Hydra) without the stored hash being exposed to `test` operations.
    let patched: unknown;
    try {
      patched = applyJsonPatch({ ...publicClientJson(existing), client_secret: "" }, operations);
    } catch (err) {
      if (err instanceof JsonPatchError) throw invalidRequest(`The JSON Patch could not be applied: ${err.message}`);
      throw err;
    }
    if (patched === null || typeof patched !== "object" || Array.isArray(patched)) throw invalidRequest("The JSON Patch must leave the client a JSON object.");
    const patchedId = (patched as Record<string, unknown>)["client_id"];
    if (patchedId !== undefined && patchedId !== id) throw invalidClientMetadata("Field client_id can not be changed.");
    const { client, plainSecret } = await prepareClient(patched, { creating: false, existing, now: now(), ...modeExtras }, hashSecret);
    await replace(client);
    sendJson(res, 200, answer(client, plainSecret));
  });

  add("DELETE", "/clients/{id}", async (_req, res, params) => {
    const id = params["id"] ?? "";
    if (!(await clients.deleteClient(id))) throw clientNotFound(id);
    await options.onClientDeleted?.(id);
    changed(id);
    sendNoContent(res);
  });

  add("PUT", "/clients/{id}/lifespans", async (req, res, params) => {
    const body = await readJsonObject(req);
    const existing = await load(params["id"] ?? "");
    const lifespans = parseLifespans(body);
    const client: HydraClient = { ...existing, updated_at: hydraTimestamp(now()) };
    if (lifespans === undefined) delete client.lifespans;
    else client.lifespans = lifespans;
    await replace(client);
    sendJson(res, 200, publicClientJson(client));
  });

  add("POST", "/clients/{id}/secrets/rotate", async (req, res, params) => {
    const body = await readJsonObject(req);
    const existing = await load(params["id"] ?? "");
    if (existing.token_endpoint_auth_method === "none") {
      throw invalidRequest(`The OAuth 2.0 client "${existing.client_id}" is a public client (token_endpoint_auth_method "none") and has no secret to rotate.`);
    }
    const given = body["client_secret"];
    if (given !== undefined && given !== null && typeof given !== "string") throw invalidRequest("Unable to decode the request body: field client_secret must be a string.");
    if (typeof given === "string" && given !== "" && given.length < 6) {
      throw invalidClientMetadata("Field client_secret must contain a secret that is at least 6 characters long.");
    }
    const plainSecret = typeof given === "string" && given !== "" ? given : generateClientSecret();
    const rotated = [...(existing.client_secret ? [existing.client_secret] : []), ...(existing.rotated_secrets ?? [])].slice(0, MAX_ROTATED_SECRETS);
    const client: HydraClient = { ...existing, client_secret: await hashSecret(plainSecret), updated_at: hydraTimestamp(now()) };
    if (rotated.length > 0) client.rotated_secrets = rotated;
    else delete client.rotated_secrets;
    await replace(client);
    sendJson(res, 200, answer(client, plainSecret));
  });

  add("DELETE", "/clients/{id}/secrets/rotate", async (_req, res, params) => {
    const existing = await load(params["id"] ?? "");
    const client: HydraClient = { ...existing, updated_at: hydraTimestamp(now()) };
    delete client.rotated_secrets;
    await replace(client);
    sendJson(res, 200, publicClientJson(client));
  });

  return routes;
}
