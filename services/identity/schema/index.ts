/** Identity schemas (traits, the `ory.sh/kratos` extension) and Kratos's UI node and message shapes. */
export * from "./ui.js";
export * from "./identity-schemas.js";
