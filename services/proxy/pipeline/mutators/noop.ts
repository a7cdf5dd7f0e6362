/** Oathkeeper's `noop` mutator: forwards the request headers unchanged. */
import type { HandlerFactory, PreparedMutator } from "../types.js";

// Stateless, so every rule shares the one prepared handler.
const NOOP: PreparedMutator = Object.freeze({
  mutate: async (): Promise<void> => {},
});

export const noopMutator: HandlerFactory<PreparedMutator> = Object.freeze({
  name: "noop",
  prepare: (): PreparedMutator => NOOP,
});
