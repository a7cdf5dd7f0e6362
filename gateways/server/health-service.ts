/**
 * The standard gRPC health service (`grpc.health.v1.Health`), with a status per service name that the plane
 * server and its owner set. The empty name "" stands for the server as a whole.
 */
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { NotFoundError } from "../../common/errors.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../proto/gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

/** Options for `createHealthService`. */
export interface HealthServiceOptions {
  /** Service names that start out SERVING besides "" (which always does), e.g. the registered services. */
  services?: readonly string[];
}

/** The health service: its implementation plus the knobs that change what it reports. */
export interface HealthService {
  /** The implementation to register on a server. */
  readonly impl: ServiceImpl<typeof Health>;
  /** Sets the status of a service ("" for the whole server) and tells its watchers. Ignored after `shutdown`. */
  setStatus(service: string, status: ServingStatus): void;
  /** The status of a service, or undefined when the name is unknown. */
  getStatus(service: string): ServingStatus | undefined;
  /**
   * Marks every service NOT_SERVING for good and ends all Watch streams after telling them, so that open
   * watches don't hold a graceful shutdown up until its timeout.
   */
  shutdown(): void;
}

type Listener = () => void;

/** Creates a health service; "" and `options.services` start SERVING. */
export function createHealthService(options: HealthServiceOptions = {}): HealthService {
  const statuses = new Map<string, ServingStatus>([["", ServingStatus.SERVING]]);
  for (const name of options.services ?? []) statuses.set(name, ServingStatus.SERVING);
  const listeners = new Set<Listener>();
  let shutDown = false;

  const notify = (): void => {
    for (const listener of listeners) listener();
  };

  async function* watch(service: string, context: HandlerContext): AsyncGenerator<{ status: ServingStatus }> {
    let changed: (() => void) | undefined;
    const wake: Listener = () => changed?.();
    listeners.add(wake);
    context.signal.addEventListener("abort", wake);
    try {
      const current = (): ServingStatus => statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
      let last: ServingStatus | undefined;
      for (;;) {
        const now = current();
        if (now !== last) {
          last = now;
          yield { status: now };
        }
        if (shutDown || context.signal.aborted) return;
        // Only the latest status matters to a watcher, so changes that happen while we wait coalesce.
        await new Promise<void>((resolve) => {
          changed = resolve;
          if (shutDown || context.signal.aborted || current() !== last) resolve();
        });
      }
    } finally {
      listeners.delete(wake);
      context.signal.removeEventListener("abort", wake);
    }
  }

  return {
    impl: {
      check(request) {
        const status = statuses.get(request.service);
        if (status === undefined) throw new NotFoundError(`unknown service "${request.service}"`);
        return { status };
      },
      watch: (request, context) => watch(request.service, context),
    },
    setStatus(service, status) {
      if (shutDown) return;
      statuses.set(service, status);
      notify();
    },
    getStatus: (service) => statuses.get(service),
    shutdown() {
      if (shutDown) return;
      for (const name of statuses.keys()) statuses.set(name, ServingStatus.NOT_SERVING);
      shutDown = true;
      notify();
    },
  };
}
