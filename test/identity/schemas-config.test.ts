/**
 * Several identity schemas from configuration (Kratos's `identity.schemas` and `default_schema_id`): a flow
 * names its schema with `identity_schema`, the schemas are listed, identifiers come from each schema's own
 * extension, and a default that is not configured stops the start with the setting named.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loadConfig, loopbackConfig } from "../../cli/config/config.js";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-schemas-"));
const customerSchema = join(dir, "customer.schema.json");
writeFileSync(
  customerSchema,
  JSON.stringify({
    $schema: "http://json-schema.org/draft-07/schema#",
    type: "object",
    properties: {
      traits: {
        type: "object",
        properties: {
          username: { type: "string", minLength: 3, title: "Username", "ory.sh/kratos": { credentials: { password: { identifier: true } } } },
        },
        required: ["username"],
        additionalProperties: false,
      },
    },
  }),
);

const servers: RunningServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("identity schemas from configuration", () => {
  it("parses `id=path` lists from the environment", () => {
    const config = loadConfig({ env: { GATEHOUSE_IDENTITY_SCHEMAS: `customer=${customerSchema}, staff=file:///etc/staff.json`, GATEHOUSE_IDENTITY_DEFAULT_SCHEMA_ID: "customer" } });
    expect(config.identity.schemas).toEqual([
      { id: "customer", path: customerSchema },
      { id: "staff", path: "/etc/staff.json" },
    ]);
    expect(config.identity.defaultSchemaId).toBe("customer");
    expect(() => loadConfig({ env: { GATEHOUSE_IDENTITY_SCHEMAS: "no-path" } })).toThrow(/GATEHOUSE_IDENTITY_SCHEMAS\[0\]/);
  });

  it("registers and logs in with the schema a flow names, and lists every schema", async () => {
    const config = loopbackConfig();
    config.identity.argon2MemoryKib = 1024;
    config.identity.argon2Iterations = 1;
    config.identity.schemas = [{ id: "customer", path: customerSchema }];
    const server = await startServer(config, () => {});
    servers.push(server);
    const base = server.identity.publicBaseUrl;
    const flow = (await (await fetch(`${base}/self-service/registration/api?identity_schema=customer`)).json()) as {
      id: string;
      identity_schema: string;
      ui: { nodes: { attributes: { name: string } }[] };
    };
    expect(flow.identity_schema).toBe("customer");
    expect(flow.ui.nodes.map((n) => n.attributes.name)).toContain("traits.username");
    const registered = await fetch(`${base}/self-service/registration?flow=${flow.id}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ method: "password", traits: { username: "Grace" }, password: "a long enough password" }),
    });
    expect(registered.status).toBe(200);
    expect(((await registered.json()) as { identity: { schema_id: string } }).identity.schema_id).toBe("customer");
    const login = (await (await fetch(`${base}/self-service/login/api`)).json()) as { id: string };
    const loggedIn = await fetch(`${base}/self-service/login?flow=${login.id}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ method: "password", identifier: "grace", password: "a long enough password" }),
    });
    expect(loggedIn.status).toBe(200);
    const schemas = (await (await fetch(`${base}/schemas`)).json()) as { id: string }[];
    expect(schemas.map((s) => s.id).sort()).toEqual(["customer", "default"]);
    // A flow naming an unknown schema is refused.
    expect((await fetch(`${base}/self-service/registration/api?identity_schema=nope`)).status).toBe(400);
  });

  it("refuses to start with a default schema that is not configured", async () => {
    const config = loopbackConfig();
    config.identity.defaultSchemaId = "missing";
    await expect(startServer(config, () => {})).rejects.toThrow(/identity.default_schema_id: no identity schema "missing"/);
  });
});
