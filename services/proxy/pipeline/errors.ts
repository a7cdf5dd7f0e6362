/**
 * The pipeline's failures. Refusals are `GatehouseError`s (so every front door maps them the one way:
 * 401, 403, 404, 500, 502); `NotResponsibleError` is not a failure but an authenticator passing the request on.
 */
import { GatehouseError, type GatehouseErrorOptions } from "../../../common/errors.js";

/** An authenticator does not handle this request (no cookie, no bearer token, …): try the next one. */
export class NotResponsibleError extends Error {
  constructor(message = "the authenticator is not responsible for this request") {
    super(message);
    this.name = "NotResponsibleError";
  }
}

/** The credentials are missing, invalid or expired (HTTP 401, `when.error: unauthorized`). */
export class UnauthorizedError extends GatehouseError {
  constructor(message = "Access credentials are invalid", options?: GatehouseErrorOptions) {
    super("unauthenticated", message, options);
    this.name = "UnauthorizedError";
  }
}

/** The subject may not do this (HTTP 403, `when.error: forbidden`). */
export class ForbiddenError extends GatehouseError {
  constructor(message = "Access credentials are not sufficient to access this resource", options?: GatehouseErrorOptions) {
    super("permission_denied", message, options);
    this.name = "ForbiddenError";
  }
}

/**
 * A service the pipeline depends on (session check, introspection, remote authorizer, hydrator) failed or
 * answered nonsense. HTTP 500 as in Oathkeeper (an upstream failure must not look like bad credentials);
 * the message names the handler and the URL, never a credential.
 */
export class UpstreamServiceError extends GatehouseError {
  constructor(message: string, options?: GatehouseErrorOptions) {
    super("internal", message, options);
    this.name = "UpstreamServiceError";
  }
}

/** Oathkeeper's `when.error` names, by the HTTP status a refusal carries. */
export function errorNameOfStatus(status: number): string {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    default:
      return status >= 500 ? "internal_server_error" : `status_${status}`;
  }
}
