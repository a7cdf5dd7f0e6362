/** Building Kratos's `ui` container for login and registration flows from a stored flow's state. */
import type { StoredFlow } from "../model.js";

/** Kratos's `uiText`. */
export interface UiTextJson {
  readonly id: number;
  readonly text: string;
  readonly type: "info" | "error" | "success";
  readonly context?: Readonly<Record<string, unknown>>;
}

/** Kratos's `uiNode` (the attribute variants are kept as plain objects; `node_type` tells them apart). */
export interface UiNodeJson {
  readonly type: string;
  readonly group: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly messages: readonly UiTextJson[];
  readonly meta: { readonly label?: UiTextJson };
}

/** What a flow remembers between a failed submission and the next render. */
export interface FlowState {
  /** The identity schema of a registration flow. */
  readonly schemaId?: string;
  /** A login flow started with `?refresh=true` (re-authentication while signed in). */
  readonly refresh?: boolean;
  /** Values to show again (never the password). */
  readonly values?: Readonly<Record<string, unknown>>;
  /** Form-level messages (`ui.messages`). */
  readonly messages?: readonly UiTextJson[];
  /** Field-level messages by node name (`traits.email`, `password`, …). */
  readonly fieldMessages?: Readonly<Record<string, readonly UiTextJson[]>>;
}

export const label = (id: number, text: string): UiTextJson => ({ id, text, type: "info" });

/** An `input` node. */
export function inputNode(
  group: string,
  name: string,
  type: string,
  options: { value?: unknown; required?: boolean; autocomplete?: string; label?: UiTextJson } = {},
): UiNodeJson {
  return {
    type: "input",
    group,
    attributes: {
      name,
      type,
      ...(options.value === undefined ? {} : { value: options.value }),
      ...(options.required === true ? { required: true } : {}),
      ...(options.autocomplete === undefined ? {} : { autocomplete: options.autocomplete }),
      disabled: false,
      node_type: "input",
    },
    messages: [],
    meta: options.label === undefined ? {} : { label: options.label },
  };
}

/** The hidden CSRF node of browser flows. */
export function csrfNode(token: string): UiNodeJson {
  return inputNode("default", "csrf_token", "hidden", { value: token, required: true });
}

/** Attaches the state's field messages to the nodes they name. */
export function withFieldMessages(nodes: readonly UiNodeJson[], state: FlowState): UiNodeJson[] {
  const byName = state.fieldMessages ?? {};
  return nodes.map((node) => {
    const name = node.attributes["name"];
    const messages = typeof name === "string" ? byName[name] : undefined;
    return messages === undefined || messages.length === 0 ? node : { ...node, messages: [...node.messages, ...messages] };
  });
}

/** The flow object Kratos returns (`loginFlow` / `registrationFlow`). */
export function flowJson(flow: StoredFlow, publicBaseUrl: string, nodes: readonly UiNodeJson[]): Record<string, unknown> {
  const state = flow.state as FlowState;
  return {
    id: flow.id,
    type: flow.type,
    expires_at: flow.expiresAt.toISOString(),
    issued_at: flow.issuedAt.toISOString(),
    created_at: flow.issuedAt.toISOString(),
    updated_at: flow.issuedAt.toISOString(),
    request_url: flow.requestUrl,
    ...(flow.returnTo === undefined ? {} : { return_to: flow.returnTo }),
    ...(flow.kind === "registration" && state.schemaId !== undefined ? { identity_schema: state.schemaId } : {}),
    ...(flow.kind === "login" ? { refresh: state.refresh === true, requested_aal: "aal1" } : {}),
    ui: {
      action: `${publicBaseUrl}/self-service/${flow.kind}?flow=${flow.id}`,
      method: "POST",
      nodes: withFieldMessages(nodes, state),
      ...(state.messages === undefined || state.messages.length === 0 ? {} : { messages: state.messages }),
    },
    state: "choose_method",
  };
}
