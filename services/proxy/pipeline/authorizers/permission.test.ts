import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatehouseError, InvalidArgumentError, UnavailableError } from "../../../../common/errors.js";
import { openPermissionEngine, type PermissionEngine } from "../../../../engine/permission-engine.js";
import { createMemoryStore, type TupleStore } from "../../../../engine/store/index.js";
import { parseTuple, type RelationTuple } from "../../../../engine/tuple.js";
import type { PermissionChecker } from "../deps.js";
import { ForbiddenError, UpstreamServiceError } from "../errors.js";
import type { AuthenticationSession } from "../types.js";
import { ketoEngineAcpOryAuthorizer, permissionAuthorizer } from "./permission.js";
import { engineChecker } from "./permission-checkers.js";
import { contextOf, rejectionOf, requestOf, sessionOf, testDeps, thrownBy } from "./test-support.js";
import { DOC_MODEL as model } from "./test-support.js";
import { literalIndexes } from "./tuple-template.js";


let store: TupleStore;
let engine: PermissionEngine;
/** Every tuple checked, in order. */
const checked: RelationTuple[] = [];
let checker: PermissionChecker;

beforeAll(async () => {
  store = createMemoryStore();
  engine = await openPermissionEngine({ store, quantizationMs: 0 });
  await engine.writeSchema(model);
  await engine.write(
    ["Doc:1#viewers@User:anne", "Doc:2#viewers@Group:eng#members", "Group:eng#members@User:bob", "Doc:secret#owners@User:anne", "Doc:3#viewers@carl"].map(
      (t) => ({ op: "touch" as const, tuple: parseTuple(t) }),
    ),
  );
  const inner = engineChecker(engine);
  checker = {
    check: (tuple) => {
      checked.push(tuple);
      return inner.check(tuple);
    },
  };
});
const base = testDeps();
afterAll(async () => {
  await base.http.close();
  await engine.close();
  await store.close();
});

const ctx = contextOf("permission");
const deps = () => testDeps({ permissions: checker, http: base.http });
const permission = (config: Record<string, unknown>) => permissionAuthorizer(deps()).prepare(config, ctx);
const acp = (config: Record<string, unknown>) => ketoEngineAcpOryAuthorizer(deps()).prepare(config, contextOf("keto_engine_acp_ory"));
const authorize = (authorizer: ReturnType<typeof permission>, session: AuthenticationSession) => authorizer.authorize(requestOf(), session);
const CHECK = "Doc:{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}#view@User:{{ .Subject }}";

describe("permission authorizer, check form", () => {
  it("allows what the engine allows and refuses the rest with ForbiddenError", async () => {
    const authorizer = permission({ check: CHECK });
    await authorize(authorizer, sessionOf("anne", { groups: ["1"] }));
    await authorize(authorizer, sessionOf("bob", { groups: ["2"] }));
    expect(await rejectionOf(authorize(authorizer, sessionOf("bob", { groups: ["1"] })))).toBeInstanceOf(ForbiddenError);
    expect(checked.at(-1)).toEqual({ namespace: "Doc", object: "1", relation: "view", subject: { kind: "set", namespace: "User", object: "bob", relation: "" } });
  });

  it("keeps request data as data: separators in a capture group do not rewrite the tuple", async () => {
    const authorizer = permission({ check: CHECK });
    // Spliced into the text and parsed, this would check Doc:secret#owners@User:anne.
    const err = await rejectionOf(authorize(authorizer, sessionOf("mallory", { groups: ["secret#owners@User:anne"] })));
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(checked.at(-1)).toMatchObject({ namespace: "Doc", object: "secret#owners@User:anne", relation: "view" });
    expect(checked.at(-1)?.subject).toEqual({ kind: "set", namespace: "User", object: "mallory", relation: "" });
  });

  it("refuses a request without a subject (the noop authenticator) without asking the engine", async () => {
    const before = checked.length;
    const err = await rejectionOf(authorize(permission({ check: CHECK }), sessionOf("", { groups: ["1"] })));
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(err.message).toContain("no subject");
    const bare = await rejectionOf(authorize(permission({ check: "Doc:1#view@{{ .Subject }}" }), sessionOf("")));
    expect(bare).toBeInstanceOf(ForbiddenError);
    expect(checked.length).toBe(before);
  });

  it("answers 403, never 500, when request data makes the tuple invalid, saying which part", async () => {
    const dynamicSubject = permission({ check: "Doc:1#view@{{ .Extra.who }}" });
    const err = await rejectionOf(authorize(dynamicSubject, sessionOf("x", { extra: { who: "nobody#members" } })));
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(err.message).toContain("subject rendered for this request is invalid");

    const dynamicRelation = permission({ check: "Doc:1#{{ .Extra.rel }}@User:anne" });
    const rel = await rejectionOf(authorize(dynamicRelation, sessionOf("x", { extra: { rel: "view er" } })));
    expect(rel).toBeInstanceOf(ForbiddenError);
    expect(rel.message).toContain("relation rendered for this request is invalid");

    // A tuple rendered whole (its separators come from data) is parsed; a malformed one is a 403 too.
    const whole = permission({ check: "{{ .Extra.tuple }}" });
    await authorize(whole, sessionOf("x", { extra: { tuple: "Doc:1#view@User:anne" } }));
    const bad = await rejectionOf(authorize(whole, sessionOf("x", { extra: { tuple: "Doc:1@User:anne" } })));
    expect(bad).toBeInstanceOf(ForbiddenError);
    expect(bad.message).toContain("not of the form namespace:object#relation@subject");
  });

  it("renders a template whole when its actions span a separator", async () => {
    const authorizer = permission({ check: "Doc:{{ if .Extra.own }}secret#owners{{ else }}1#viewers{{ end }}@User:{{ .Subject }}" });
    await authorize(authorizer, sessionOf("anne", { extra: { own: true } }));
    expect(checked.at(-1)).toMatchObject({ namespace: "Doc", object: "secret", relation: "owners" });
    await authorize(authorizer, sessionOf("anne", { extra: { own: false } }));
    expect(checked.at(-1)).toMatchObject({ namespace: "Doc", object: "1", relation: "viewers" });
  });

  it("treats a namespace or relation the schema lacks as a misconfiguration when the rule wrote it, and as a 403 when the request chose it", async () => {
    const typo = await rejectionOf(authorize(permission({ check: "dokument:{{ .Subject }}#view@User:anne" }), sessionOf("1")));
    expect(typo).toBeInstanceOf(UpstreamServiceError);
    expect((typo as GatehouseError).code).toBe("internal");
    expect(typo.message).toContain('rule "r1" authorizers[0] (permission)');
    expect(typo.message).toContain('namespace "dokument"');

    const chosen = await rejectionOf(authorize(permission({ check: "{{ .Extra.ns }}:1#view@User:anne" }), sessionOf("x", { extra: { ns: "Nope" } })));
    expect(chosen).toBeInstanceOf(ForbiddenError);
  });

  it("passes an unavailable engine's error on as it is", async () => {
    const down: PermissionChecker = {
      check: async () => {
        throw new UnavailableError("the store is down");
      },
    };
    const authorizer = permissionAuthorizer(testDeps({ permissions: down, http: base.http })).prepare({ check: CHECK }, ctx);
    expect(await rejectionOf(authorize(authorizer, sessionOf("anne", { groups: ["1"] })))).toBeInstanceOf(UnavailableError);
  });
});

describe("permission authorizer, structured form", () => {
  it("checks a subject id by default, the session's subject", async () => {
    const authorizer = permission({ namespace: "Doc", object: "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}", relation: "view" });
    await authorize(authorizer, sessionOf("carl", { groups: ["3"] }));
    expect(checked.at(-1)?.subject).toEqual({ kind: "id", id: "carl" });
    expect(await rejectionOf(authorize(authorizer, sessionOf("", { groups: ["3"] })))).toBeInstanceOf(ForbiddenError);
  });

  it("checks a subject set, with or without a relation", async () => {
    const typed = permission({ namespace: "Doc", object: "1", relation: "view", subject_set: { namespace: "User", object: "{{ .Subject }}" } });
    await authorize(typed, sessionOf("anne"));
    await expect(authorize(typed, sessionOf("bob"))).rejects.toBeInstanceOf(ForbiddenError);
    await expect(authorize(typed, sessionOf(""))).rejects.toBeInstanceOf(ForbiddenError);

    const set = permission({
      namespace: "Doc",
      object: "2",
      relation: "view",
      subject_set: { namespace: "Group", object: "{{ .Extra.team }}", relation: "members" },
    });
    await authorize(set, sessionOf("x", { extra: { team: "eng" } }));
    expect(checked.at(-1)?.subject).toEqual({ kind: "set", namespace: "Group", object: "eng", relation: "members" });
  });

  it("takes any subject_id template", async () => {
    const authorizer = permission({ namespace: "Doc", object: "3", relation: "view", subject_id: "{{ .Extra.login }}" });
    await authorize(authorizer, sessionOf("x", { extra: { login: "carl" } }));
  });
});

describe("permission authorizer configuration", () => {
  it("needs the authz engine", () => {
    const err = thrownBy(() => permissionAuthorizer(base).prepare({ check: CHECK }, ctx));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toContain('rule "r1" authorizers[0] (permission): the permission authorizer needs the authz engine: ');
  });

  it("refuses bad configuration, naming where and the key", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{}, "config.check is required"],
      [{ check: CHECK, namespace: "Doc" }, "config.check cannot be combined with config.namespace"],
      [{ check: "Doc:1#view@{{ .Subject" }, "config.check"],
      [{ check: "Doc:1#viewer" }, "config.check"],
      [{ check: "do c:{{ .Subject }}#view@User:x" }, "config.check (namespace)"],
      [{ namespace: "Doc", relation: "view" }, "config.object is required"],
      [{ namespace: "Doc", object: "1" }, "config.relation is required"],
      [{ namespace: "Doc#x", object: "1", relation: "view" }, "config.namespace"],
      [{ namespace: "Doc", object: "1", relation: "view", subject_id: "a", subject_set: { namespace: "User", object: "a" } }, "config.subject_set cannot be combined with config.subject_id"],
      [{ namespace: "Doc", object: "1", relation: "view", subject_set: { object: "a" } }, "config.subject_set.namespace is required"],
      [{ namespace: "Doc", object: "{{ if }}", relation: "view" }, "config.object"],
    ];
    for (const [config, message] of cases) {
      const err = thrownBy(() => permission(config));
      expect(err, message).toBeInstanceOf(InvalidArgumentError);
      expect(err.message, message).toContain('rule "r1" authorizers[0] (permission)');
      expect(err.message, message).toContain(message);
    }
  });
});

describe("keto_engine_acp_ory (mapped onto a tuple check)", () => {
  it("checks required_resource#required_action@subject", async () => {
    const authorizer = acp({
      base_url: "http://keto:4466",
      flavor: "exact",
      required_action: "view",
      required_resource: "Doc:{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}",
      subject: "User:{{ .Subject }}",
    });
    await authorize(authorizer, sessionOf("anne", { groups: ["1"] }));
    await expect(authorize(authorizer, sessionOf("anne", { groups: ["2"] }))).rejects.toBeInstanceOf(ForbiddenError);
    await expect(authorize(authorizer, sessionOf("", { groups: ["1"] }))).rejects.toBeInstanceOf(ForbiddenError);
  });

  it("defaults the subject to the session's", async () => {
    const authorizer = acp({ required_action: "view", required_resource: "Doc:3" });
    await authorize(authorizer, sessionOf("carl"));
    expect(checked.at(-1)).toEqual({ namespace: "Doc", object: "3", relation: "view", subject: { kind: "id", id: "carl" } });
  });

  it("refuses a resource that cannot be namespace:object, and a missing action", () => {
    const noColon = thrownBy(() => acp({ required_action: "view", required_resource: "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}" }));
    expect(noColon).toBeInstanceOf(InvalidArgumentError);
    expect(noColon.message).toContain("config.required_resource must be of the form namespace:object");
    const noAction = thrownBy(() => acp({ required_resource: "Doc:1" }));
    expect(noAction.message).toContain("config.required_action is required");
    const noEngine = thrownBy(() => ketoEngineAcpOryAuthorizer(base).prepare({ required_action: "v", required_resource: "Doc:1" }, ctx));
    expect(noEngine.message).toContain("needs the authz engine");
  });
});

describe("literalIndexes", () => {
  it("finds separators outside actions only, skipping strings and comments", () => {
    expect(literalIndexes('a:{{ printf "x:y" }}:b', ":")).toEqual([1, 20]);
    expect(literalIndexes("{{/* it's: */}}a:b", ":")).toEqual([16]);
    expect(literalIndexes("{{ `}}:` }}:", ":")).toEqual([11]);
  });
});
