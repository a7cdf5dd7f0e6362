/**
 * Retries of calls to the services handlers consult (introspection, token endpoints, `remote_json`,
 * `hydrator`), configured as Oathkeeper's
 * `retry: {give_up_after, max_delay}`: exponential backoff with jitter, each pause capped at `max_delay`, no
 * new attempt once `give_up_after` has passed since the first. Only failures a retry can fix are retried:
 * the service could not be reached (or did not answer in time), or it answered 5xx. A 4xx is an answer.
 */
import type { ConfigReader } from "./config-reader.js";
import { UpstreamServiceError } from "./errors.js";
import type { OutboundHttp, OutboundRequest, OutboundResponse } from "./outbound-http.js";

export interface RetryPolicy {
  /** No attempt starts later than this after the first one. */
  readonly giveUpAfterMillis: number;
  /** The longest pause between two attempts. */
  readonly maxDelayMillis: number;
}

/** Oathkeeper's defaults (`give_up_after: 1s`, `max_delay: 100ms`). */
export const DEFAULT_RETRY: RetryPolicy = { giveUpAfterMillis: 1_000, maxDelayMillis: 100 };

/** The first pause; later ones double up to `max_delay`. */
const FIRST_DELAY_MILLIS = 25;

/** Reads `retry` from `reader` (the handler's config, or `api` for the hydrator), defaults filled in. */
export function readRetryPolicy(reader: ConfigReader, defaults: RetryPolicy = DEFAULT_RETRY): RetryPolicy {
  const retry = reader.child("retry");
  for (const key of Object.keys(reader.map("retry") ?? {})) {
    if (key !== "give_up_after" && key !== "max_delay") throw retry.error(key, "is not a known option (known: give_up_after, max_delay)");
  }
  const giveUpAfterMillis = retry.duration("give_up_after") ?? defaults.giveUpAfterMillis;
  const maxDelayMillis = retry.duration("max_delay") ?? defaults.maxDelayMillis;
  // A zero pause would hammer a failing service for all of `give_up_after`.
  if (maxDelayMillis < 1) throw retry.error("max_delay", "must be at least 1ms");
  return { giveUpAfterMillis, maxDelayMillis };
}

function retryable(err: unknown): boolean {
  return err instanceof UpstreamServiceError && err.reason === "upstream_unreachable";
}

const sleep = (millis: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, millis));

/**
 * Sends `request`, retrying per `policy` (undefined: one attempt). Resolves with the first answer that is not
 * 5xx, or the last one; rejects with the last failure when no attempt got an answer.
 */
export async function sendWithRetry(http: OutboundHttp, request: OutboundRequest, policy: RetryPolicy | undefined): Promise<OutboundResponse> {
  // The real clock, not the pipeline's `now`: the pauses are real.
  const started = Date.now();
  let delay = Math.min(FIRST_DELAY_MILLIS, policy?.maxDelayMillis ?? 0);
  for (;;) {
    let outcome: { response: OutboundResponse } | { error: unknown };
    try {
      outcome = { response: await http.send(request) };
    } catch (err) {
      if (!retryable(err)) throw err;
      outcome = { error: err };
    }
    // 501 says the service will never do it: not worth another attempt.
    if ("response" in outcome && (outcome.response.status < 500 || outcome.response.status === 501)) return outcome.response;
    // Equal jitter: half the pause fixed, half random, so clients that failed together do not retry together.
    const pause = delay / 2 + Math.random() * (delay / 2);
    if (policy === undefined || Date.now() - started + pause > policy.giveUpAfterMillis) {
      if ("response" in outcome) return outcome.response;
      throw outcome.error;
    }
    await sleep(pause);
    delay = Math.min(delay * 2, policy.maxDelayMillis);
  }
}
