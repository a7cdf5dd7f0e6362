/**
 * Keto's wording for errors whose text Keto clients compare. Keto's namespace manager answers an unknown
 * namespace with herodot's generic not-found message and puts the name in `reason`; Keto's own e2e suite
 * asserts that message exactly, so the Keto API speaks it too (Gatehouse's own API keeps its clearer text).
 */
import { GatehouseError, NotFoundError, toGatehouseError } from "../../common/errors.js";

/** herodot's `ErrNotFound` message. */
export const KETO_NOT_FOUND_MESSAGE = "The requested resource could not be found";

/** The error as Keto would word it; errors Keto words like we do pass through unchanged. */
export function toKetoError(error: unknown): GatehouseError {
  const err = toGatehouseError(error);
  if (err.reason !== "namespace_not_found") return err;
  const name = typeof err.details.namespace === "string" ? err.details.namespace : "";
  return new NotFoundError(KETO_NOT_FOUND_MESSAGE, {
    reason: `Unknown namespace with name "${name}".`,
    details: err.details,
    cause: err,
  });
}
