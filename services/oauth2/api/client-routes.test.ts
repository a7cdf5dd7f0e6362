import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Configuration, OAuth2Api, type OAuth2Client } from "@ory/client";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../../../common/errors.js";
import { createApiKeyVerifier, hashApiKey } from "../../../gateways/auth/api-keys.js";
import { createSecretVerifier, hashClientSecret, verifyClientSecret } from "../clients/client-secrets.js";
import type { HydraClient } from "../clients/hydra-client.js";
import type { ClientStore, ListClientsOptions, StorePage } from "../store/oauth2-store.js";
import { clientRoutes } from "./client-routes.js";
import { dispatch } from "./http-io.js";

/** A Map-based ClientStore with the contract's errors and keyset pages. */
class MapClientStore implements ClientStore {
  readonly byId = new Map<string, HydraClient>();
  async createClient(client: HydraClient): Promise<void> {
    if (this.byId.has(client.client_id)) throw new AlreadyExistsError(`client ${client.client_id} exists`, { details: { field: "client_id" } });
    this.byId.set(client.client_id, structuredClone(client));
  }
  async updateClient(client: HydraClient): Promise<void> {
    if (!this.byId.has(client.client_id)) throw new NotFoundError(`client ${client.client_id} not found`);
    this.byId.set(client.client_id, structuredClone(client));
  }
  async getClient(clientId: string): Promise<HydraClient | undefined> {
    const c = this.byId.get(clientId);
    return c === undefined ? undefined : structuredClone(c);
  }
  async listClients(options: ListClientsOptions = {}): Promise<StorePage<HydraClient>> {
    const size = options.pageSize ?? 250;
    let after = "";
    if (options.pageToken !== undefined) {
      const decoded = Buffer.from(options.pageToken, "base64url").toString("utf8");
      if (!decoded.startsWith("after:")) throw new InvalidArgumentError("page_token: not a page token", { details: { field: "page_token" } });
      after = decoded.slice(6);
    }
    const all = [...this.byId.values()]
      .filter((c) => c.client_id > after)
      .filter((c) => options.clientName === undefined || c.client_name === options.clientName)
      .filter((c) => options.owner === undefined || c.owner === options.owner)
      .sort((a, b) => (a.client_id < b.client_id ? -1 : 1));
    const items = all.slice(0, size);
    const last = items[items.length - 1];
    return all.length > size && last !== undefined
      ? { items, nextPageToken: Buffer.from(`after:${last.client_id}`).toString("base64url") }
      : { items };
  }
  async deleteClient(clientId: string): Promise<boolean> {
    return this.byId.delete(clientId);
  }
}

const ADMIN_KEY = "admin-key-for-tests";
const fastHash = (s: string): Promise<string> => hashClientSecret(s, { iterations: 1000 });

let store: MapClientStore;
const changed: string[] = [];
const deleted: string[] = [];
let open: { server: Server; base: string };
let guarded: { server: Server; base: string };

async function serve(keys: string[]): Promise<{ server: Server; base: string }> {
  const routes = clientRoutes({
    clients: { createClient: (c) => store.createClient(c), updateClient: (c) => store.updateClient(c), getClient: (id) => store.getClient(id), listClients: (o) => store.listClients(o), deleteClient: (id) => store.deleteClient(id) },
    keys: createApiKeyVerifier(keys.map(hashApiKey)),
    onClientChanged: (id) => changed.push(id),
    onClientDeleted: async (id) => {
      deleted.push(id);
    },
    hashSecret: fastHash,
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    void dispatch(routes, req, res, url).then((handled) => {
      if (!handled) {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  open = await serve([]);
  guarded = await serve([ADMIN_KEY]);
});
afterAll(async () => {
  await Promise.all([open, guarded].map(({ server }) => new Promise((resolve) => server.close(resolve))));
});
beforeEach(() => {
  store = new MapClientStore();
  changed.length = 0;
  deleted.length = 0;
});

const sdk = (base = open.base, accessToken?: string): OAuth2Api => new OAuth2Api(new Configuration({ basePath: base, ...(accessToken === undefined ? {} : { accessToken }) }));

/** A raw request; the JSON body (when any) and headers. */
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, base = open.base) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

/** The status and body of an SDK call that must fail. */
async function sdkFailure(promise: Promise<unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    await promise;
  } catch (err) {
    // The SDK rejects with an axios error carrying the response.
    const response = (err as { response?: { status: number; data: unknown } }).response;
    if (response !== undefined) return { status: response.status, body: response.data as Record<string, unknown> };
    throw err;
  }
  throw new Error("expected the call to fail");
}

describe("client admin routes driven by @ory/client", () => {
  it("creates a client (201, plain secret once), then gets and lists it without the secret", async () => {
    const api = sdk();
    const created = await api.createOAuth2Client({
      oAuth2Client: { client_name: "Shop", redirect_uris: ["https://shop.example/cb"], grant_types: ["authorization_code", "refresh_token"], scope: "openid offline_access", owner: "acme" },
    });
    expect(created.status).toBe(201);
    expect(created.headers["location"]).toBe(`/admin/clients/${created.data.client_id}`);
    const client = created.data;
    expect(client.client_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(client.client_secret).toMatch(/^[a-zA-Z0-9_.~-]{26}$/);
    expect(client).toMatchObject({ client_name: "Shop", token_endpoint_auth_method: "client_secret_basic", response_types: ["code"], subject_type: "public" });
    const id = client.client_id as string;

    // Stored as a hash that verifies the secret just returned.
    const storedHash = store.byId.get(id)?.client_secret as string;
    expect(storedHash).toMatch(/^\$pbkdf2-sha256\$i=1000,l=32\$/);
    expect(await verifyClientSecret(client.client_secret as string, storedHash)).toBe(true);

    const got = await api.getOAuth2Client({ id });
    expect(got.data.client_secret).toBeUndefined();
    expect(got.data.client_name).toBe("Shop");
    expect(JSON.stringify(got.data)).not.toContain("pbkdf2");

    const list = await api.listOAuth2Clients({ owner: "acme" });
    expect(list.data.map((c: OAuth2Client) => c.client_id)).toEqual([id]);
    expect(list.data[0]?.client_secret).toBeUndefined();
    expect((await api.listOAuth2Clients({ owner: "nobody" })).data).toEqual([]);
    expect((await api.listOAuth2Clients({ clientName: "Shop" })).data).toHaveLength(1);
    expect(changed).toEqual([id]);
  });

  it("accepts a client_id chosen by the admin, and refuses a duplicate with 409", async () => {
    const api = sdk();
    await api.createOAuth2Client({ oAuth2Client: { client_id: "fixed-id", client_secret: "fixed-secret" } });
    const dup = await call("POST", "/admin/clients", { client_id: "fixed-id" });
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({ error: "conflict", status_code: 409 });
    expect(dup.body?.["error_description"]).toContain('client_id "fixed-id"');
  });

  it("creates public clients without a secret in the answer", async () => {
    const created = await sdk().createOAuth2Client({ oAuth2Client: { token_endpoint_auth_method: "none", redirect_uris: ["http://127.0.0.1:9000/cb"] } });
    expect(created.data.client_secret).toBeUndefined();
    expect(store.byId.get(created.data.client_id as string)?.client_secret).toBe("");
  });

  it("PUT replaces the client and keeps the secret unless one is sent (then echoes it once)", async () => {
    const api = sdk();
    const created = await api.createOAuth2Client({ oAuth2Client: { client_id: "put-me", client_secret: "first-secret", client_name: "before", audience: ["https://a.example"] } });
    const firstHash = store.byId.get("put-me")?.client_secret as string;

    const replaced = await api.setOAuth2Client({ id: "put-me", oAuth2Client: { client_name: "after" } });
    expect(replaced.status).toBe(200);
    expect(replaced.data.client_name).toBe("after");
    expect(replaced.data.audience).toEqual([]); // full replacement
    expect(replaced.data.client_secret).toBeUndefined();
    expect(replaced.data.created_at).toBe(created.data.created_at);
    expect(store.byId.get("put-me")?.client_secret).toBe(firstHash);

    const rekeyed = await api.setOAuth2Client({ id: "put-me", oAuth2Client: { client_name: "after", client_secret: "second-secret" } });
    expect(rekeyed.data.client_secret).toBe("second-secret");
    const secondHash = store.byId.get("put-me")?.client_secret as string;
    expect(await verifyClientSecret("second-secret", secondHash)).toBe(true);
    expect(await verifyClientSecret("first-secret", secondHash)).toBe(false);
  });

  it("PATCH applies a JSON Patch; patching client_secret sets and echoes it; client_id cannot change", async () => {
    const api = sdk();
    await api.createOAuth2Client({ oAuth2Client: { client_id: "patch-me", client_secret: "patch-secret", redirect_uris: ["https://p.example/cb"] } });
    const hash = store.byId.get("patch-me")?.client_secret;

    const patched = await api.patchOAuth2Client({
      id: "patch-me",
      jsonPatch: [
        { op: "replace", path: "/client_name", value: "Patched" },
        { op: "add", path: "/redirect_uris/-", value: "https://p.example/cb2" },
        { op: "add", path: "/metadata/tier", value: "gold" },
      ],
    });
    expect(patched.data).toMatchObject({ client_name: "Patched", redirect_uris: ["https://p.example/cb", "https://p.example/cb2"], metadata: { tier: "gold" } });
    expect(patched.data.client_secret).toBeUndefined();
    expect(store.byId.get("patch-me")?.client_secret).toBe(hash);

    const resecret = await api.patchOAuth2Client({ id: "patch-me", jsonPatch: [{ op: "replace", path: "/client_secret", value: "patched-secret" }] });
    expect(resecret.data.client_secret).toBe("patched-secret");
    expect(await verifyClientSecret("patched-secret", store.byId.get("patch-me")?.client_secret as string)).toBe(true);

    const idChange = await sdkFailure(api.patchOAuth2Client({ id: "patch-me", jsonPatch: [{ op: "replace", path: "/client_id", value: "other" }] }));
    expect(idChange.status).toBe(400);
    expect(idChange.body["error_description"]).toContain("client_id");

    const badPatch = await call("PATCH", "/admin/clients/patch-me", [{ op: "replace", path: "/nope/deeper", value: 1 }]);
    expect(badPatch.status).toBe(400);
    expect(badPatch.body?.["error_description"]).toContain("patch[0].path");
    const invalidResult = await call("PATCH", "/admin/clients/patch-me", [{ op: "replace", path: "/redirect_uris", value: ["https://p.example/cb#frag"] }]);
    expect(invalidResult.status).toBe(400);
    expect(invalidResult.body?.["error"]).toBe("invalid_redirect_uri");
    const notArray = await call("PATCH", "/admin/clients/patch-me", { op: "replace" });
    expect(notArray.status).toBe(400);
  });

  it("DELETE answers 204, revokes through onClientDeleted, and the client is gone (404 with Hydra's error)", async () => {
    const api = sdk();
    await api.createOAuth2Client({ oAuth2Client: { client_id: "doomed" } });
    const res = await api.deleteOAuth2Client({ id: "doomed" });
    expect(res.status).toBe(204);
    expect(deleted).toEqual(["doomed"]);
    expect(changed).toEqual(["doomed", "doomed"]);
    const gone = await sdkFailure(api.getOAuth2Client({ id: "doomed" }));
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ error: "Unable to locate the resource", status_code: 404 });
    expect(gone.body["error_description"]).toContain('"doomed"');
  });

  it("answers 404 for every route on a missing client", async () => {
    for (const [method, path, body] of [
      ["GET", "/admin/clients/missing", undefined],
      ["PUT", "/admin/clients/missing", {}],
      ["PATCH", "/admin/clients/missing", []],
      ["DELETE", "/admin/clients/missing", undefined],
      ["PUT", "/admin/clients/missing/lifespans", {}],
      ["POST", "/admin/clients/missing/secrets/rotate", undefined],
      ["DELETE", "/admin/clients/missing/secrets/rotate", undefined],
    ] as const) {
      const res = await call(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body?.["error"]).toBe("Unable to locate the resource");
    }
    expect(deleted).toEqual([]);
  });

  it("answers 400 naming the field for invalid metadata", async () => {
    const short = await call("POST", "/admin/clients", { client_secret: "abc" });
    expect(short.status).toBe(400);
    expect(short.body).toMatchObject({ error: "invalid_client_metadata", status_code: 400 });
    expect(short.body?.["error_description"]).toContain("Field client_secret must contain a secret that is at least 6 characters long.");

    const viaSdk = await sdkFailure(sdk().createOAuth2Client({ oAuth2Client: { grant_types: ["password"] } }));
    expect(viaSdk.status).toBe(400);
    expect(viaSdk.body["error_description"]).toContain("grant_types");

    const fragment = await call("POST", "/admin/clients", { redirect_uris: ["https://x.example/cb#f"] });
    expect(fragment.body).toMatchObject({ error: "invalid_redirect_uri" });

    const jwt = await call("POST", "/admin/clients", { token_endpoint_auth_method: "client_secret_jwt" });
    expect(jwt.body?.["error_description"]).toContain("client_secret_jwt");

    const wrongType = await call("POST", "/admin/clients", { redirect_uris: "https://x.example/cb" });
    expect(wrongType.body).toMatchObject({ error: "invalid_request" });
    expect(wrongType.body?.["error_description"]).toContain("redirect_uris");

    const notJson = await call("POST", "/admin/clients", "{not json");
    expect(notJson.status).toBe(400);
    expect(notJson.body?.["error"]).toBe("invalid_request");
    expect(store.byId.size).toBe(0);
  });

  it("pages with page_size and page_token, and announces the pages in a Link header", async () => {
    for (const id of ["a", "b", "c", "d", "e"]) await store.createClient({ ...(await baseClient(id)) });
    const first = await call("GET", "/admin/clients?page_size=2&owner=");
    expect(first.status).toBe(200);
    expect((first.body as unknown as OAuth2Client[]).map((c) => c.client_id)).toEqual(["a", "b"]);
    const link = first.headers.get("link") ?? "";
    expect(link).toContain('rel="first"');
    const next = /<([^>]+)>; rel="next"/.exec(link)?.[1] as string;
    expect(next).toMatch(/^\/admin\/clients\?.*page_token=/);
    const second = await call("GET", next);
    expect((second.body as unknown as OAuth2Client[]).map((c) => c.client_id)).toEqual(["c", "d"]);
    const third = await call("GET", /<([^>]+)>; rel="next"/.exec(second.headers.get("link") ?? "")?.[1] as string);
    expect((third.body as unknown as OAuth2Client[]).map((c) => c.client_id)).toEqual(["e"]);
    expect(third.headers.get("link")).not.toContain('rel="next"');
    expect(first.headers.get("x-total-count")).toBeNull();

    const viaSdk = await sdk().listOAuth2Clients({ pageSize: 4 });
    expect(viaSdk.data).toHaveLength(4);

    expect((await call("GET", "/admin/clients?page_size=abc")).status).toBe(400);
    expect((await call("GET", "/admin/clients?page_size=0")).status).toBe(400);
    const tampered = await call("GET", "/admin/clients?page_token=garbage");
    expect(tampered.status).toBe(400);
    expect(tampered.body?.["error_description"]).toContain("page_token");
    expect((await call("GET", "/admin/clients?page_size=100000")).status).toBe(200);
  });

  it("rotates secrets: the old one stays valid until the rotated secrets are deleted", async () => {
    const api = sdk();
    await api.createOAuth2Client({ oAuth2Client: { client_id: "rot", client_secret: "secret-one" } });
    const verifier = createSecretVerifier();

    const rotated = await api.rotateOAuth2ClientSecret({ id: "rot" });
    expect(rotated.status).toBe(200);
    const secretTwo = rotated.data.client_secret as string;
    expect(secretTwo).toMatch(/^[a-zA-Z0-9_.~-]{26}$/);
    let stored = store.byId.get("rot") as HydraClient;
    expect(await verifier.verifyClient("secret-one", stored)).toBe(true);
    expect(await verifier.verifyClient(secretTwo, stored)).toBe(true);
    expect((await api.getOAuth2Client({ id: "rot" })).data).not.toHaveProperty("rotated_secrets");

    // At most five rotated secrets are kept.
    for (let i = 0; i < 6; i++) await api.rotateOAuth2ClientSecret({ id: "rot" });
    stored = store.byId.get("rot") as HydraClient;
    expect(stored.rotated_secrets).toHaveLength(5);

    const cleared = await api.deleteRotatedOAuth2ClientSecrets({ id: "rot" });
    expect(cleared.status).toBe(200);
    stored = store.byId.get("rot") as HydraClient;
    expect(stored.rotated_secrets).toBeUndefined();
    expect(await verifier.verifyClient("secret-one", stored)).toBe(false);

    // A chosen secret may be sent; public clients have none to rotate.
    const chosen = await call("POST", "/admin/clients/rot/secrets/rotate", { client_secret: "my-chosen-secret" });
    expect(chosen.body?.["client_secret"]).toBe("my-chosen-secret");
    await api.createOAuth2Client({ oAuth2Client: { client_id: "pub", token_endpoint_auth_method: "none" } });
    const pub = await call("POST", "/admin/clients/pub/secrets/rotate");
    expect(pub.status).toBe(400);
    expect(pub.body?.["error_description"]).toContain("public client");
  });

  it("a new secret through PUT clears the rotated secrets (Hydra's documented rule)", async () => {
    const api = sdk();
    await api.createOAuth2Client({ oAuth2Client: { client_id: "rot2", client_secret: "secret-one" } });
    await api.rotateOAuth2ClientSecret({ id: "rot2" });
    await api.setOAuth2Client({ id: "rot2", oAuth2Client: { client_secret: "secret-three" } });
    expect(store.byId.get("rot2")?.rotated_secrets).toBeUndefined();
    await api.rotateOAuth2ClientSecret({ id: "rot2" });
    await api.setOAuth2Client({ id: "rot2", oAuth2Client: { client_name: "kept" } });
    expect(store.byId.get("rot2")?.rotated_secrets).toHaveLength(1);
  });

  it("sets lifespans without touching other members", async () => {
    const api = sdk();
    await api.createOAuth2Client({ oAuth2Client: { client_id: "life", client_name: "Life", client_secret: "life-secret" } });
    const hash = store.byId.get("life")?.client_secret;
    const res = await api.setOAuth2ClientLifespans({
      id: "life",
      oAuth2ClientTokenLifespans: { client_credentials_grant_access_token_lifespan: "5m", refresh_token_grant_refresh_token_lifespan: "720h" },
    });
    expect(res.data).toMatchObject({
      client_name: "Life",
      client_credentials_grant_access_token_lifespan: "5m0s",
      refresh_token_grant_refresh_token_lifespan: "720h0m0s",
      authorization_code_grant_access_token_lifespan: null,
    });
    expect(store.byId.get("life")?.client_secret).toBe(hash);
    const bad = await call("PUT", "/admin/clients/life/lifespans", { implicit_grant_id_token_lifespan: "soon" });
    expect(bad.status).toBe(400);
    expect(bad.body?.["error_description"]).toContain("implicit_grant_id_token_lifespan");
  });

  it("serves the legacy paths without /admin", async () => {
    const created = await call("POST", "/clients", { client_id: "legacy" });
    expect(created.status).toBe(201);
    expect((await call("GET", "/clients/legacy")).body?.["client_id"]).toBe("legacy");
    expect((await call("GET", "/clients")).status).toBe(200);
    expect((await call("DELETE", "/clients/legacy")).status).toBe(204);
  });
});

describe("admin API keys", () => {
  it("answers 401 without a valid key and serves the SDK with one", async () => {
    const none = await call("GET", "/admin/clients", undefined, {}, guarded.base);
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: "unauthorized", status_code: 401 });
    const wrong = await call("POST", "/admin/clients", { client_id: "x" }, { authorization: "Bearer wrong" }, guarded.base);
    expect(wrong.status).toBe(401);
    expect(store.byId.size).toBe(0);
    const missingClient = await call("GET", "/admin/clients/missing", undefined, {}, guarded.base);
    expect(missingClient.status).toBe(401); // authentication before existence
    const legacy = await call("GET", "/clients", undefined, {}, guarded.base);
    expect(legacy.status).toBe(401);

    const denied = await sdkFailure(sdk(guarded.base).listOAuth2Clients());
    expect(denied.status).toBe(401);
    const api = sdk(guarded.base, ADMIN_KEY);
    const created = await api.createOAuth2Client({ oAuth2Client: { client_id: "with-key" } });
    expect(created.status).toBe(201);
    expect((await api.getOAuth2Client({ id: "with-key" })).data.client_id).toBe("with-key");
  });
});

async function baseClient(id: string): Promise<HydraClient> {
  return {
    client_id: id,
    client_name: "",
    client_secret: await fastHash("base-secret"),
    redirect_uris: [],
    post_logout_redirect_uris: [],
    grant_types: ["client_credentials"],
    response_types: [],
    scope: "",
    audience: [],
    token_endpoint_auth_method: "client_secret_basic",
    subject_type: "public",
    allowed_cors_origins: [],
    skip_consent: false,
    metadata: {},
    owner: "",
    contacts: [],
    client_uri: "",
    logo_uri: "",
    policy_uri: "",
    tos_uri: "",
    created_at: "2025-01-01T00:00:00Z",
    updated_at: "2025-01-01T00:00:00Z",
  };
}
