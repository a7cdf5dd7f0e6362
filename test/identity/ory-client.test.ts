/**
 * The identity service through Ory's own SDK (`@ory/client`), as a team migrating from Kratos would call it:
 * native registration and login with a password, `toSession`, listing and revoking sessions, native logout,
 * and the admin identity API (create, get, list by identifier, update, delete), on the embedded store.
 */
import { Configuration, FrontendApi, IdentityApi } from "@ory/client";
import { isAxiosError } from "axios";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";

/** The HTTP status and Kratos error body of a failed SDK call. */
async function failure(promise: Promise<unknown>): Promise<{ status: number | undefined; data: unknown }> {
  try {
    await promise;
  } catch (err) {
    if (isAxiosError(err)) return { status: err.response?.status, data: err.response?.data };
    throw err;
  }
  throw new Error("the call succeeded but was expected to fail");
}

describe("identity service with @ory/client", () => {
  let server: RunningServer;
  let frontend: FrontendApi;
  let identities: IdentityApi;

  beforeAll(async () => {
    const config = loopbackConfig();
    // Cheap hashing keeps the suite fast; the production cost is configured, not tested here.
    config.identity.argon2MemoryKib = 1024;
    config.identity.argon2Iterations = 1;
    server = await startServer(config, () => {});
    frontend = new FrontendApi(new Configuration({ basePath: server.identity.publicBaseUrl }));
    identities = new IdentityApi(new Configuration({ basePath: `http://127.0.0.1:${server.identity.ports.admin}` }));
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function register(email: string, password: string) {
    const { data: flow } = await frontend.createNativeRegistrationFlow();
    return frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: "password", password, traits: { email } } });
  }

  async function login(identifier: string, password: string) {
    const { data: flow } = await frontend.createNativeLoginFlow();
    return frontend.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: "password", identifier, password } });
  }

  it("registers with a password and is signed in right away (the session hook)", async () => {
    const { data } = await register("ada@example.com", "analytical engine 1843");
    expect(data.identity.traits).toEqual({ email: "ada@example.com" });
    expect(data.identity.verifiable_addresses?.[0]).toMatchObject({ value: "ada@example.com", via: "email", verified: false });
    expect(data.session_token).toMatch(/^ory_st_[A-Za-z0-9]{32}$/);
    expect(data.continue_with).toEqual([{ action: "set_ory_session_token", ory_session_token: data.session_token }]);
    const { data: session, headers } = await frontend.toSession({ xSessionToken: data.session_token as string });
    expect(session.identity?.id).toBe(data.identity.id);
    expect(session.authenticator_assurance_level).toBe("aal1");
    expect(session.authentication_methods?.[0]?.method).toBe("password");
    expect(headers["x-kratos-authenticated-identity-id"]).toBe(data.identity.id);
    // Sessions last 24 hours by default.
    const lifetime = new Date(session.expires_at as string).getTime() - new Date(session.issued_at as string).getTime();
    expect(lifetime).toBe(24 * 3_600_000);
  });

  it("returns the flow with field messages (400) for invalid traits and a weak password", async () => {
    const { data: flow } = await frontend.createNativeRegistrationFlow();
    const err = await failure(
      frontend.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: "password", password: "short", traits: { email: "not-an-email" } } }),
    );
    expect(err.status).toBe(400);
    const nodes = (err.data as { ui: { nodes: { attributes: { name: string; value?: unknown }; messages: { id: number }[] }[] } }).ui.nodes;
    const byName = new Map(nodes.map((n) => [n.attributes.name, n]));
    expect(byName.get("traits.email")?.messages.length).toBeGreaterThan(0);
    expect(byName.get("traits.email")?.attributes.value).toBe("not-an-email");
    expect(byName.get("password")?.messages.map((m) => m.id)).toContain(4000032);
  });

  it("refuses a second account with the same identifier, whatever its case", async () => {
    await register("grace@example.com", "cobol compiler 1959");
    const err = await failure(register("Grace@Example.com", "another long password"));
    expect(err.status).toBe(400);
    expect((err.data as { ui: { messages: { id: number }[] } }).ui.messages.map((m) => m.id)).toEqual([4000007]);
  });

  it("logs in with a password and gives the same answer for a wrong password and an unknown account", async () => {
    const { data } = await login("GRACE@example.com", "cobol compiler 1959");
    expect(data.session.identity?.traits).toEqual({ email: "grace@example.com" });
    const wrong = await failure(login("grace@example.com", "not the password"));
    const unknown = await failure(login("nobody@example.com", "not the password"));
    expect(wrong.status).toBe(400);
    expect(unknown.status).toBe(400);
    const messages = (e: { data: unknown }) => (e.data as { ui: { messages: unknown[] } }).ui.messages;
    expect(messages(wrong)).toEqual(messages(unknown));
    expect(messages(wrong)).toEqual([expect.objectContaining({ id: 4000006 })]);
  });

  it("answers 401 to toSession without a valid token, and 400 session_already_available to a second login flow", async () => {
    expect((await failure(frontend.toSession({ xSessionToken: "ory_st_notavalidtokennotavalidtoken12" }))).status).toBe(401);
    expect((await failure(frontend.toSession())).status).toBe(401);
    const { data } = await login("ada@example.com", "analytical engine 1843");
    const again = await failure(frontend.createNativeLoginFlow({ xSessionToken: data.session_token as string }));
    expect(again.status).toBe(400);
    expect(again.data).toMatchObject({ error: { id: "session_already_available" } });
  });

  it("lists the caller's other sessions, revokes one, revokes all others, and logs out", async () => {
    const first = (await login("ada@example.com", "analytical engine 1843")).data.session_token as string;
    const second = (await login("ada@example.com", "analytical engine 1843")).data;
    const third = (await login("ada@example.com", "analytical engine 1843")).data.session_token as string;
    const { data: others } = await frontend.listMySessions({ xSessionToken: first });
    expect(others.map((s) => s.id)).toContain(second.session.id);
    await frontend.disableMySession({ id: second.session.id, xSessionToken: first });
    expect((await failure(frontend.toSession({ xSessionToken: second.session_token as string }))).status).toBe(401);
    const { data: revoked } = await frontend.disableMyOtherSessions({ xSessionToken: first });
    expect(revoked.count).toBeGreaterThanOrEqual(1);
    expect((await failure(frontend.toSession({ xSessionToken: third }))).status).toBe(401);
    await frontend.performNativeLogout({ performNativeLogoutBody: { session_token: first } });
    expect((await failure(frontend.toSession({ xSessionToken: first }))).status).toBe(401);
  });

  it("manages identities through the admin API", async () => {
    const { data: created, status } = await identities.createIdentity({
      createIdentityBody: {
        schema_id: "default",
        traits: { email: "linus@example.com", name: { first: "Linus" } },
        metadata_admin: { plan: "pro" },
        credentials: { password: { config: { password: "kernel hacker 1991" } } },
      },
    });
    expect(status).toBe(201);
    expect(created.metadata_admin).toEqual({ plan: "pro" });
    expect(created.credentials?.password?.identifiers).toEqual(["linus@example.com"]);
    // The admin-created password works for login.
    expect((await login("linus@example.com", "kernel hacker 1991")).data.session.identity?.id).toBe(created.id);

    const { data: found } = await identities.listIdentities({ credentialsIdentifier: "linus@example.com" });
    expect(found.map((i) => i.id)).toEqual([created.id]);
    const { data: withHash } = await identities.getIdentity({ id: created.id, includeCredential: ["password"] });
    expect((withHash.credentials?.password?.config as { hashed_password: string }).hashed_password).toMatch(/^\$argon2id\$/);
    const { data: plain } = await identities.getIdentity({ id: created.id });
    expect(plain.credentials?.password?.config).toBeUndefined();

    const { data: updated } = await identities.updateIdentity({
      id: created.id,
      updateIdentityBody: { schema_id: "default", traits: { email: "torvalds@example.com" }, state: "inactive" },
    });
    expect(updated.state).toBe("inactive");
    // The identifier moved with the trait, and an inactive identity cannot sign in.
    expect((await identities.listIdentities({ credentialsIdentifier: "linus@example.com" })).data).toEqual([]);
    expect((await failure(login("torvalds@example.com", "kernel hacker 1991"))).status).toBe(400);

    const conflict = await failure(
      identities.createIdentity({ createIdentityBody: { schema_id: "default", traits: { email: "ada@example.com" }, credentials: { password: { config: { password: "whatever long one" } } } } }),
    );
    expect(conflict.status).toBe(409);
    const invalid = await failure(identities.createIdentity({ createIdentityBody: { schema_id: "default", traits: { name: { first: "No email" } } } }));
    expect(invalid.status).toBe(400);

    await identities.deleteIdentity({ id: created.id });
    expect((await failure(identities.getIdentity({ id: created.id }))).status).toBe(404);
    expect((await failure(identities.deleteIdentity({ id: created.id }))).status).toBe(404);
  });

  it("serves the identity schemas", async () => {
    const { data } = await identities.listIdentitySchemas();
    expect(data.map((s) => s.id)).toEqual(["default"]);
    const { data: schema } = await identities.getIdentitySchema({ id: "default" });
    expect(JSON.stringify(schema)).toContain("ory.sh/kratos");
  });
});
