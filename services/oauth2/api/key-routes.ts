/**
 * Hydra's admin JSON Web Key API (`jwk/handler.go` `SetAdminRoutes`):
 *
 * | Method | Path | Answer |
 * |---|---|---|
 * | GET | `/admin/keys/{set}` | 200 `jsonWebKeySet`, private members included (Hydra strips only HSM-held keys); 404 for an empty or missing set |
 * | POST | `/admin/keys/{set}` | body `createJsonWebKeySet` `{alg, use, kid}` → 201 `jsonWebKeySet` holding the new (private) key; the set keeps its other keys |
 * | PUT | `/admin/keys/{set}` | body `jsonWebKeySet` → 200 `jsonWebKeySet`; replaces the whole set |
 * | DELETE | `/admin/keys/{set}` | 204 (also when the set did not exist, as Hydra) |
 * | GET | `/admin/keys/{set}/{kid}` | 200 `jsonWebKeySet` with the one key; 404 |
 * | PUT | `/admin/keys/{set}/{kid}` | body `jsonWebKey` → 200 `jsonWebKey`; creates or replaces the key |
 * | DELETE | `/admin/keys/{set}/{kid}` | 204 (also when the key did not exist, as Hydra) |
 *
 * Differences from Hydra, on purpose: `POST` refuses an unknown `use` (Hydra stores anything) and checks the
 * algorithm before generating; `PUT /admin/keys/{set}/{kid}` refuses a body whose `kid` differs from the path
 * (Hydra silently stores it under the body's kid) and takes the path's kid when the body has none; imported
 * keys are validated (loadable, public members matching the private key, RSA >= 2048 bits). The reserved set
 * `gatehouse.secrets.system` (the generated system secret) is refused with 403 on every method.
 *
 * Errors use Hydra's `errorOAuth2` body (`http-io.ts`); validation errors name the field.
 */
import type { IncomingMessage } from "node:http";
import type { ApiKeyVerifier } from "../../../gateways/auth/api-keys.js";
import { bearerToken } from "../../../gateways/auth/api-keys.js";
import type { Jwk, KeyVault } from "../keys/key-vault.js";
import { isReservedKeySet, SYSTEM_SECRETS_OPTION, SYSTEM_SECRETS_SET } from "../keys/system-secrets.js";
import { invalidRequest, notFound, OAuth2HttpError, readJsonObject, sendJson, sendNoContent, type Route } from "./http-io.js";

/** What the key routes work with. */
export interface KeyRoutesOptions {
  readonly vault: KeyVault;
  /** API keys the admin plane requires (none configured = open, as Hydra's admin port). */
  readonly keys: ApiKeyVerifier;
  /** Called after every change (so the provider reloads its signing keys). */
  readonly onKeysChanged?: () => void;
}

/** The path prefix of the routes. */
export const KEYS_PATH = "/admin/keys";

function authorize(keys: ApiKeyVerifier, req: IncomingMessage): void {
  keys.verify(bearerToken(req.headers.authorization));
}

function checkSet(set: string): void {
  if (isReservedKeySet(set)) {
    throw new OAuth2HttpError(
      403,
      "forbidden",
      `The JSON Web Key Set ${SYSTEM_SECRETS_SET} holds the system secret and is not available through this API; configure ${SYSTEM_SECRETS_OPTION} instead.`,
    );
  }
}

const setNotFound = (set: string): OAuth2HttpError => notFound(`Unable to locate the requested resource: the JSON Web Key Set ${JSON.stringify(set)} does not exist or has no keys.`);
const keyNotFound = (set: string, kid: string): OAuth2HttpError =>
  notFound(`Unable to locate the requested resource: the JSON Web Key Set ${JSON.stringify(set)} has no key with kid ${JSON.stringify(kid)}.`);

/** Reads an optional string field of a JSON body; another type is a 400 naming it. */
function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidRequest(`${field}: must be a string`);
  return value;
}

/** Hydra's admin key routes. */
export function keyRoutes(options: KeyRoutesOptions): Route[] {
  const { vault, keys } = options;
  const changed = (): void => {
    options.onKeysChanged?.();
  };
  const setPath = `${KEYS_PATH}/{set}`;
  const keyPath = `${KEYS_PATH}/{set}/{kid}`;
  const param = (params: Record<string, string>, name: string): string => params[name] ?? "";
  /** Every route's prologue: the caller's API key, then the set it names (never the system secret's). */
  const authorizedSet = (req: IncomingMessage, params: Record<string, string>): string => {
    authorize(keys, req);
    const set = param(params, "set");
    checkSet(set);
    return set;
  };

  return [
    {
      method: "GET",
      path: setPath,
      async handle(req, res, params) {
        const set = authorizedSet(req, params);
        const jwks = await vault.privateSet(set);
        if (jwks.length === 0) throw setNotFound(set);
        sendJson(res, 200, { keys: jwks });
      },
    },
    {
      method: "POST",
      path: setPath,
      async handle(req, res, params) {
        const set = authorizedSet(req, params);
        const body = await readJsonObject(req);
        const alg = optionalString(body, "alg");
        const use = optionalString(body, "use");
        const kid = optionalString(body, "kid");
        const jwk: Jwk = await vault.generateKey(set, {
          alg: alg ?? "",
          ...(use === undefined ? {} : { use }),
          ...(kid === undefined ? {} : { kid }),
        });
        changed();
        sendJson(res, 201, { keys: [jwk] }, { location: `${KEYS_PATH}/${encodeURIComponent(set)}` });
      },
    },
    {
      method: "PUT",
      path: setPath,
      async handle(req, res, params) {
        const set = authorizedSet(req, params);
        const body = await readJsonObject(req);
        const list = body["keys"];
        if (!Array.isArray(list)) throw invalidRequest("keys: must be an array of JSON Web Keys");
        const stored = await vault.importKeys(set, { keys: list as unknown[] });
        changed();
        sendJson(res, 200, { keys: stored });
      },
    },
    {
      method: "DELETE",
      path: setPath,
      async handle(req, res, params) {
        const set = authorizedSet(req, params);
        if ((await vault.delete(set)) > 0) changed();
        sendNoContent(res);
      },
    },
    {
      method: "GET",
      path: keyPath,
      async handle(req, res, params) {
        const set = authorizedSet(req, params);
        const kid = param(params, "kid");
        const jwk = await vault.getKey(set, kid);
        if (jwk === undefined) throw keyNotFound(set, kid);
        sendJson(res, 200, { keys: [jwk] });
      },
    },
    {
      method: "PUT",
      path: keyPath,
      async handle(req, res, params) {
        const set = authorizedSet(req, params);
        const kid = param(params, "kid");
        const body = await readJsonObject(req);
        const bodyKid = optionalString(body, "kid");
        if (bodyKid !== undefined && bodyKid !== "" && bodyKid !== kid) {
          throw invalidRequest(`kid: the body's kid ${JSON.stringify(bodyKid)} differs from the kid ${JSON.stringify(kid)} in the path`);
        }
        const jwk = await vault.putKey(set, { ...body, kid });
        changed();
        sendJson(res, 200, jwk);
      },
    },
    {
      method: "DELETE",
      path: keyPath,
      async handle(req, res, params) {
        const set = authorizedSet(req, params);
        const kid = param(params, "kid");
        if ((await vault.delete(set, kid)) > 0) changed();
        sendNoContent(res);
      },
    },
  ];
}
