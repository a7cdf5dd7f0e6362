import { describe, expect, it } from "vitest";
import {
  createInputNode,
  MessageId,
  textDuplicateCredentials,
  textInvalidCredentials,
  textLabelId,
  textLabelPassword,
  textLoginFlowExpired,
  textPasswordMaxLength,
  textPasswordMinLength,
  textRegistrationFlowExpired,
  textSignInWithPassword,
  textSignUp,
  textValidationGeneric,
  textValidationRequired,
  type UiContainer,
} from "./ui.js";

describe("ui texts", () => {
  it("keeps Kratos's ids", () => {
    expect(MessageId).toMatchObject({
      ValidationGeneric: 4000001,
      ValidationRequired: 4000002,
      ValidationInvalidCredentials: 4000006,
      ValidationDuplicateCredentials: 4000007,
      PasswordIdentifierTooSimilar: 4000031,
      PasswordMinLength: 4000032,
      PasswordMaxLength: 4000033,
      PasswordTooManyBreaches: 4000034,
      LoginFlowExpired: 4010001,
      RegistrationFlowExpired: 4040001,
      LabelPassword: 1070001,
      LabelId: 1070004,
      LoginWithPassword: 1010022,
      RegistrationSignUp: 1040001,
    });
    const ids = Object.values(MessageId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("has the texts the flows show", () => {
    expect(textInvalidCredentials()).toEqual({
      id: 4000006,
      text: "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.",
      type: "error",
    });
    expect(textDuplicateCredentials().text).toBe(
      "An account with the same identifier (email, phone, username, ...) exists already.",
    );
    expect(textValidationRequired("email")).toEqual({
      id: 4000002,
      text: "Property email is missing.",
      type: "error",
      context: { property: "email" },
    });
    expect(textValidationGeneric("bad")).toEqual({ id: 4000001, text: "bad", type: "error", context: { reason: "bad" } });
    expect(textLabelPassword()).toEqual({ id: 1070001, text: "Password", type: "info" });
    expect(textLabelId()).toEqual({ id: 1070004, text: "ID", type: "info" });
    expect(textSignInWithPassword()).toEqual({ id: 1010022, text: "Sign in with password", type: "info" });
    expect(textSignUp()).toEqual({ id: 1040001, text: "Sign up", type: "info" });
    expect(textPasswordMinLength(8, 5).context).toEqual({ min_length: 8, actual_length: 5 });
    expect(textPasswordMaxLength(72, 80).context).toEqual({ max_length: 72, actual_length: 80 });
  });

  it("says how long ago a flow expired", () => {
    const expiredAt = new Date("2026-01-01T10:00:00Z");
    const now = new Date("2026-01-01T10:01:30Z");
    expect(textLoginFlowExpired(expiredAt, now)).toEqual({
      id: 4010001,
      text: "The login flow expired 1.50 minutes ago, please try again.",
      type: "error",
      context: { expired_at: "2026-01-01T10:00:00.000Z", expired_at_unix: 1767261600 },
    });
    expect(textRegistrationFlowExpired(expiredAt, now).id).toBe(4040001);
  });
});

describe("createInputNode", () => {
  it("builds the password login form's nodes in Kratos's shape", () => {
    const nodes = [
      createInputNode({ name: "identifier", type: "text", group: "default", value: "", required: true, label: textLabelId() }),
      createInputNode({ name: "csrf_token", type: "hidden", group: "default", value: "tok", required: true }),
      createInputNode({
        name: "password",
        type: "password",
        group: "password",
        required: true,
        autocomplete: "current-password",
        label: textLabelPassword(),
      }),
      createInputNode({ name: "method", type: "submit", group: "password", value: "password", label: textSignInWithPassword() }),
    ];
    const ui: UiContainer = { action: "https://id.example/self-service/login?flow=1", method: "POST", nodes };
    expect(JSON.parse(JSON.stringify(ui.nodes[2]))).toEqual({
      type: "input",
      group: "password",
      attributes: {
        name: "password",
        type: "password",
        required: true,
        autocomplete: "current-password",
        disabled: false,
        node_type: "input",
      },
      messages: [],
      meta: { label: { id: 1070001, text: "Password", type: "info" } },
    });
    expect(nodes[1]!.meta).toEqual({});
    expect(nodes[3]!.attributes).toEqual({ name: "method", type: "submit", value: "password", disabled: false, node_type: "input" });
  });
});
