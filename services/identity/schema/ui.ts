/**
 * Kratos's self-service UI shapes (`uiContainer`, `uiNode`, `uiText`) as Gatehouse builds them, and the
 * catalogue of message ids and English texts the identity service uses.
 *
 * The JSON field names are Kratos's own (snake_case where Kratos uses it) because these objects are sent to
 * clients as they are. Ids follow Kratos's numbering (1010000 login info, 1040000 registration info,
 * 1070000 node labels, 4000000 generic validation, 4010000 login validation, 4040000 registration
 * validation); UIs translate by id, so ids must stay stable. The English texts are our own wording.
 */

/** How a message is to be shown. */
export type UiTextType = "info" | "error" | "success";

/** A message with a stable numeric id (the UI translates by id), English text and its parameters. */
export interface UiText {
  readonly id: number;
  readonly text: string;
  readonly type: UiTextType;
  /** The values substituted into `text`, for translations. */
  readonly context?: Readonly<Record<string, unknown>>;
}

/** Which method (strategy) a node belongs to; `default` holds shared fields such as `csrf_token`. */
export type UiNodeGroup =
  | "default"
  | "password"
  | "oidc"
  | "profile"
  | "link"
  | "code"
  | "totp"
  | "lookup_secret"
  | "webauthn"
  | "passkey"
  | "identifier_first"
  | "captcha"
  | "saml"
  | "deviceauthn";

/** The kind of a node; repeated as `attributes.node_type`. */
export type UiNodeType = "text" | "input" | "img" | "a" | "script" | "div";

/** HTML input types Kratos uses. */
export type UiNodeInputType =
  | "text"
  | "password"
  | "number"
  | "checkbox"
  | "hidden"
  | "email"
  | "tel"
  | "submit"
  | "button"
  | "datetime-local"
  | "date"
  | "url";

/** `autocomplete` values Kratos sets. */
export type UiNodeInputAutocomplete =
  | "email"
  | "tel"
  | "url"
  | "current-password"
  | "new-password"
  | "one-time-code"
  | "username"
  | "username webauthn";

/** Named browser-side triggers (WebAuthn and passkey scripts). */
export type UiNodeTrigger =
  | "oryWebAuthnRegistration"
  | "oryWebAuthnLogin"
  | "oryPasskeyLogin"
  | "oryPasskeyLoginAutocompleteInit"
  | "oryPasskeyRegistration"
  | "oryPasskeySettingsRegistration";

/** One choice of an input whose trait schema has an `enum`; the UI renders a select. */
export interface UiNodeInputOption {
  readonly value: unknown;
}

/** Attributes of an `input` node. */
export interface UiNodeInputAttributes {
  readonly node_type: "input";
  /** The form field name, e.g. `traits.email`, `password`, `csrf_token`, `method`. */
  readonly name: string;
  readonly type: UiNodeInputType;
  readonly disabled: boolean;
  readonly value?: unknown;
  readonly required?: boolean;
  readonly autocomplete?: UiNodeInputAutocomplete;
  readonly label?: UiText;
  readonly pattern?: string;
  readonly maxlength?: number;
  readonly onclickTrigger?: UiNodeTrigger;
  readonly onloadTrigger?: UiNodeTrigger;
  readonly options?: readonly UiNodeInputOption[];
}

/** Attributes of a `text` node (e.g. a TOTP secret or lookup codes). */
export interface UiNodeTextAttributes {
  readonly node_type: "text";
  readonly id: string;
  readonly text: UiText;
}

/** Attributes of an `img` node (e.g. the TOTP QR code as a data URL). */
export interface UiNodeImageAttributes {
  readonly node_type: "img";
  readonly id: string;
  readonly src: string;
  readonly width: number;
  readonly height: number;
}

/** Attributes of an `a` node. */
export interface UiNodeAnchorAttributes {
  readonly node_type: "a";
  readonly id: string;
  readonly href: string;
  readonly title: UiText;
}

/** Attributes of a `script` node (WebAuthn's browser script). */
export interface UiNodeScriptAttributes {
  readonly node_type: "script";
  readonly id: string;
  readonly src: string;
  readonly async: boolean;
  readonly referrerpolicy: string;
  readonly crossorigin: string;
  readonly integrity: string;
  readonly type: string;
  readonly nonce: string;
}

/** Attributes of a `div` node. */
export interface UiNodeDivisionAttributes {
  readonly node_type: "div";
  readonly id: string;
  readonly class?: string;
  readonly data?: Readonly<Record<string, string>>;
}

/** Node metadata; `label` is what the UI shows next to or on the node. */
export interface UiNodeMeta {
  readonly label?: UiText;
}

interface UiNodeBase<T extends UiNodeType, A> {
  readonly type: T;
  readonly group: UiNodeGroup;
  readonly attributes: A;
  /** Field-level messages, e.g. a validation error of this input. */
  readonly messages: readonly UiText[];
  readonly meta: UiNodeMeta;
}

export type UiInputNode = UiNodeBase<"input", UiNodeInputAttributes>;
export type UiTextNode = UiNodeBase<"text", UiNodeTextAttributes>;
export type UiImageNode = UiNodeBase<"img", UiNodeImageAttributes>;
export type UiAnchorNode = UiNodeBase<"a", UiNodeAnchorAttributes>;
export type UiScriptNode = UiNodeBase<"script", UiNodeScriptAttributes>;
export type UiDivisionNode = UiNodeBase<"div", UiNodeDivisionAttributes>;

/** One node of a flow's form; discriminated by `type` (and `attributes.node_type`). */
export type UiNode = UiInputNode | UiTextNode | UiImageNode | UiAnchorNode | UiScriptNode | UiDivisionNode;

/** A flow's form: where and how to submit it, its nodes and its form-level messages. */
export interface UiContainer {
  readonly action: string;
  readonly method: string;
  readonly nodes: readonly UiNode[];
  readonly messages?: readonly UiText[];
}

/** What `createInputNode` takes. */
export interface InputNodeSpec {
  readonly name: string;
  readonly type: UiNodeInputType;
  readonly group: UiNodeGroup;
  readonly value?: unknown;
  readonly required?: boolean;
  readonly disabled?: boolean;
  readonly autocomplete?: UiNodeInputAutocomplete;
  readonly pattern?: string;
  readonly maxlength?: number;
  readonly options?: readonly UiNodeInputOption[];
  /** Goes into `meta.label`. */
  readonly label?: UiText;
  readonly messages?: readonly UiText[];
}

/** Builds an `input` node; optional attributes are left out when not given, as Kratos does. */
export function createInputNode(spec: InputNodeSpec): UiInputNode {
  const attributes: {
    -readonly [K in keyof UiNodeInputAttributes]: UiNodeInputAttributes[K];
  } = { name: spec.name, type: spec.type, disabled: spec.disabled ?? false, node_type: "input" };
  if (spec.value !== undefined) attributes.value = spec.value;
  if (spec.required !== undefined) attributes.required = spec.required;
  if (spec.autocomplete !== undefined) attributes.autocomplete = spec.autocomplete;
  if (spec.pattern !== undefined) attributes.pattern = spec.pattern;
  if (spec.maxlength !== undefined) attributes.maxlength = spec.maxlength;
  if (spec.options !== undefined) attributes.options = spec.options;
  return {
    type: "input",
    group: spec.group,
    attributes,
    messages: spec.messages ?? [],
    meta: spec.label === undefined ? {} : { label: spec.label },
  };
}

/** The message ids Gatehouse uses, named after what they mean. */
export const MessageId = {
  // 1010000: login info
  LoginSignIn: 1010001,
  LoginWithPassword: 1010022,
  // 1040000: registration info
  RegistrationSignUp: 1040001,
  RegistrationContinue: 1040003,
  // 1070000: node labels
  LabelPassword: 1070001,
  LabelGenerated: 1070002,
  LabelSave: 1070003,
  LabelId: 1070004,
  LabelSubmit: 1070005,
  LabelEmail: 1070007,
  LabelContinue: 1070009,
  // 4000000: generic validation
  ValidationGeneric: 4000001,
  ValidationRequired: 4000002,
  ValidationMinLength: 4000003,
  ValidationPattern: 4000004,
  ValidationInvalidCredentials: 4000006,
  ValidationDuplicateCredentials: 4000007,
  ValidationNoLoginIdentifiers: 4000009,
  ValidationMaxLength: 4000017,
  ValidationMinimum: 4000018,
  ValidationExclusiveMinimum: 4000019,
  ValidationMaximum: 4000020,
  ValidationExclusiveMaximum: 4000021,
  ValidationMultipleOf: 4000022,
  ValidationMaxItems: 4000023,
  ValidationMinItems: 4000024,
  ValidationUniqueItems: 4000025,
  ValidationWrongType: 4000026,
  ValidationConst: 4000029,
  PasswordIdentifierTooSimilar: 4000031,
  PasswordMinLength: 4000032,
  PasswordMaxLength: 4000033,
  PasswordTooManyBreaches: 4000034,
  AccountNotFound: 4000037,
  // 4010000: login (and "no strategy") validation
  LoginFlowExpired: 4010001,
  LoginNoStrategy: 4010002,
  RegistrationNoStrategy: 4010003,
  // 4040000: registration validation
  RegistrationFlowExpired: 4040001,
} as const;

/** A value of `MessageId`. */
export type MessageIdValue = (typeof MessageId)[keyof typeof MessageId];

function info(id: number, text: string, context?: Record<string, unknown>): UiText {
  return context === undefined ? { id, text, type: "info" } : { id, text, type: "info", context };
}

function error(id: number, text: string, context?: Record<string, unknown>): UiText {
  return context === undefined ? { id, text, type: "error" } : { id, text, type: "error", context };
}

// ---- labels and info texts -------------------------------------------------------------------------------

/** 1010001: label of a generic sign-in button. */
export const textSignIn = (): UiText => info(MessageId.LoginSignIn, "Sign in");
/** 1010022: label of the password login submit button (`method=password`). */
export const textSignInWithPassword = (): UiText => info(MessageId.LoginWithPassword, "Sign in with password");
/** 1040001: label of the registration submit button. */
export const textSignUp = (): UiText => info(MessageId.RegistrationSignUp, "Sign up");
/** 1040003: label of the "continue" button of a multi-step registration. */
export const textRegistrationContinue = (): UiText => info(MessageId.RegistrationContinue, "Continue");
/** 1070001: label of a password input. */
export const textLabelPassword = (): UiText => info(MessageId.LabelPassword, "Password");
/** 1070002: a label taken from a trait's schema `title`. */
export const textLabelGenerated = (title: string): UiText => info(MessageId.LabelGenerated, title, { title });
/** 1070003: label of a save button. */
export const textLabelSave = (): UiText => info(MessageId.LabelSave, "Save");
/** 1070004: label of the login `identifier` input. */
export const textLabelId = (): UiText => info(MessageId.LabelId, "ID");
/** 1070005: label of a generic submit button. */
export const textLabelSubmit = (): UiText => info(MessageId.LabelSubmit, "Submit");
/** 1070007: label of an email input. */
export const textLabelEmail = (): UiText => info(MessageId.LabelEmail, "Email");
/** 1070009: label of a generic continue button. */
export const textLabelContinue = (): UiText => info(MessageId.LabelContinue, "Continue");

// ---- validation errors -----------------------------------------------------------------------------------

/** 4000001: a schema violation without a more specific id; `reason` is the English explanation. */
export const textValidationGeneric = (reason: string): UiText => error(MessageId.ValidationGeneric, reason, { reason });

/** 4000002: a required property is missing (`property` is its name, not its path). */
export const textValidationRequired = (property: string): UiText =>
  error(MessageId.ValidationRequired, `Property ${property} is missing.`, { property });

/** 4000003: a string is shorter than the schema's `minLength` (counted in characters). */
export const textValidationMinLength = (minLength: number, actualLength: number): UiText =>
  error(
    MessageId.ValidationMinLength,
    `The value must be at least ${minLength} characters long, but it has ${actualLength}.`,
    { min_length: minLength, actual_length: actualLength },
  );

/** 4000004: a string does not match the schema's `pattern`. */
export const textValidationPattern = (pattern: string): UiText =>
  error(MessageId.ValidationPattern, `The value does not match the pattern "${pattern}".`, { pattern });

/** 4000006: a login failed. The same text for an unknown identifier and a wrong password (enumeration). */
export const textInvalidCredentials = (): UiText =>
  error(
    MessageId.ValidationInvalidCredentials,
    "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.",
  );

/** 4000007: registration (or an identifier change) collides with another identity's identifier. */
export const textDuplicateCredentials = (): UiText =>
  error(
    MessageId.ValidationDuplicateCredentials,
    "An account with the same identifier (email, phone, username, ...) exists already.",
  );

/** 4000009: the traits yield no password identifier (the schema marks none, or the values are empty). */
export const textNoLoginIdentifiers = (): UiText =>
  error(
    MessageId.ValidationNoLoginIdentifiers,
    "No login identifier could be found in the submitted data. Fill in the identifier fields; if they are filled in, the identity schema may mark none as an identifier.",
  );

/** 4000017: a string is longer than the schema's `maxLength`. */
export const textValidationMaxLength = (maxLength: number, actualLength: number): UiText =>
  error(
    MessageId.ValidationMaxLength,
    `The value must be at most ${maxLength} characters long, but it has ${actualLength}.`,
    { max_length: maxLength, actual_length: actualLength },
  );

/** 4000018-4000021: a number is outside the schema's `minimum`/`exclusiveMinimum`/`maximum`/`exclusiveMaximum`. */
export const textValidationRange = (
  kind: "minimum" | "exclusiveMinimum" | "maximum" | "exclusiveMaximum",
  limit: number,
  actual: number,
): UiText => {
  switch (kind) {
    case "minimum":
      return error(MessageId.ValidationMinimum, `The value must be at least ${limit}, but it is ${actual}.`, {
        actual,
        minimum: limit,
      });
    case "exclusiveMinimum":
      return error(MessageId.ValidationExclusiveMinimum, `The value must be greater than ${limit}, but it is ${actual}.`, {
        actual,
        minimum: limit,
      });
    case "maximum":
      return error(MessageId.ValidationMaximum, `The value must be at most ${limit}, but it is ${actual}.`, {
        actual,
        maximum: limit,
      });
    case "exclusiveMaximum":
      return error(MessageId.ValidationExclusiveMaximum, `The value must be less than ${limit}, but it is ${actual}.`, {
        actual,
        maximum: limit,
      });
  }
};

/** 4000022: a number is not a multiple of the schema's `multipleOf`. */
export const textValidationMultipleOf = (base: number, actual: number): UiText =>
  error(MessageId.ValidationMultipleOf, `The value must be a multiple of ${base}, but it is ${actual}.`, {
    actual,
    base,
  });

/** 4000023: an array has more items than `maxItems`. */
export const textValidationMaxItems = (maxItems: number, actualItems: number): UiText =>
  error(MessageId.ValidationMaxItems, `At most ${maxItems} items are allowed, but there are ${actualItems}.`, {
    max_items: maxItems,
    actual_items: actualItems,
  });

/** 4000024: an array has fewer items than `minItems`. */
export const textValidationMinItems = (minItems: number, actualItems: number): UiText =>
  error(MessageId.ValidationMinItems, `At least ${minItems} items are required, but there are ${actualItems}.`, {
    min_items: minItems,
    actual_items: actualItems,
  });

/** 4000025: an array with `uniqueItems` holds two equal items. */
export const textValidationUniqueItems = (indexA: number, indexB: number): UiText =>
  error(MessageId.ValidationUniqueItems, `The items at positions ${indexA} and ${indexB} are the same.`, {
    index_a: indexA,
    index_b: indexB,
  });

/** 4000026: a value has the wrong JSON type. */
export const textValidationWrongType = (allowedTypes: readonly string[], actualType: string): UiText =>
  error(
    MessageId.ValidationWrongType,
    `The value must be of type ${allowedTypes.join(" or ")}, but it is of type ${actualType}.`,
    { allowed_types: [...allowedTypes], actual_type: actualType },
  );

/** 4000029: a value differs from the schema's `const`. */
export const textValidationConst = (expected: unknown): UiText =>
  error(MessageId.ValidationConst, `The value must be ${JSON.stringify(expected)}.`, { expected });

/** 4000031: the password resembles one of the identity's identifiers too closely. */
export const textPasswordIdentifierTooSimilar = (): UiText =>
  error(
    MessageId.PasswordIdentifierTooSimilar,
    "This password is too similar to your identifier (email address, username, ...). Choose a different one.",
  );

/** 4000032: the password is shorter than the configured minimum (in characters). */
export const textPasswordMinLength = (minLength: number, actualLength: number): UiText =>
  error(
    MessageId.PasswordMinLength,
    `The password must have at least ${minLength} characters, but it has ${actualLength}.`,
    { min_length: minLength, actual_length: actualLength },
  );

/** 4000033: the password is longer than the hashing limit (72 bytes of UTF-8). */
export const textPasswordMaxLength = (maxLength: number, actualLength: number): UiText =>
  error(
    MessageId.PasswordMaxLength,
    `The password must be at most ${maxLength} bytes long, but it is ${actualLength} bytes long.`,
    { max_length: maxLength, actual_length: actualLength },
  );

/** 4000034: the password appears in a list of breached passwords. */
export const textPasswordTooManyBreaches = (breaches?: number): UiText =>
  error(
    MessageId.PasswordTooManyBreaches,
    "This password appears in known data breaches and can no longer be used. Choose a different one.",
    breaches === undefined ? undefined : { breaches },
  );

/** 4000037: identifier-first login found no identity (only when enumeration mitigation is off). */
export const textAccountNotFound = (): UiText =>
  error(MessageId.AccountNotFound, "No account with this identifier exists, or it has no way to sign in.");

function flowExpired(id: number, flow: string, expiredAt: Date, now: Date): UiText {
  const minutes = Math.max(0, (now.getTime() - expiredAt.getTime()) / 60_000);
  return error(id, `The ${flow} flow expired ${minutes.toFixed(2)} minutes ago, please try again.`, {
    expired_at: expiredAt.toISOString(),
    expired_at_unix: Math.floor(expiredAt.getTime() / 1000),
  });
}

/** 4010001: the login flow expired (shown on the replacement flow). */
export const textLoginFlowExpired = (expiredAt: Date, now: Date = new Date()): UiText =>
  flowExpired(MessageId.LoginFlowExpired, "login", expiredAt, now);

/** 4010002: a login submission named no usable method. */
export const textLoginNoStrategy = (): UiText =>
  error(MessageId.LoginNoStrategy, "No sign-in method matches what was submitted. Check that the form was filled in.");

/** 4010003: a registration submission named no usable method. */
export const textRegistrationNoStrategy = (): UiText =>
  error(
    MessageId.RegistrationNoStrategy,
    "No sign-up method matches what was submitted. Check that the form was filled in.",
  );

/** 4040001: the registration flow expired (shown on the replacement flow). */
export const textRegistrationFlowExpired = (expiredAt: Date, now: Date = new Date()): UiText =>
  flowExpired(MessageId.RegistrationFlowExpired, "registration", expiredAt, now);
