import { Server, ServerCredentials, status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import type { ServiceImpl } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { registerOnGrpcJs } from "./grpc-js-adapter.js";
import { GrpcHealthClient } from "./test-clients.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (millis: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, millis));

async function serve(impl: Partial<ServiceImpl<typeof Health>>): Promise<GrpcHealthClient> {
  const server = new Server();
  registerOnGrpcJs(server, Health, impl, { onUnexpectedError: () => {} });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  cleanups.push(() => server.forceShutdown());
  const client = new GrpcHealthClient(port);
  cleanups.push(() => client.close());
  return client;
}

describe("registerOnGrpcJs", () => {
  it("answers UNIMPLEMENTED for methods the implementation leaves out", async () => {
    const client = await serve({});
    await expect(client.check("")).rejects.toMatchObject({ code: grpcStatus.UNIMPLEMENTED });
  });

  it("stops pulling from a stream while the client does not read (backpressure)", async () => {
    let produced = 0;
    const client = await serve({
      async *watch() {
        for (let i = 0; i < 1_000_000; i++) {
          produced++;
          yield { status: ServingStatus.SERVING };
        }
      },
    });
    const watch = client.watch("");
    await watch.next();
    // Once the client stops reading, the HTTP/2 flow-control window fills and the server's writes stop
    // draining; the adapter must then stop asking the implementation for more.
    watch.pause();
    // Filling the window and the socket buffers takes a moment; wait until production stalls.
    let last = -1;
    for (let i = 0; i < 40 && produced !== last; i++) {
      last = produced;
      await sleep(100);
    }
    await sleep(200);
    expect(produced).toBe(last);
    expect(produced).toBeLessThan(1_000_000);
    watch.cancel();
  });

  it("aborts the context signal when the client cancels, ending the implementation", async () => {
    let finished: (reason: unknown) => void = () => {};
    const ended = new Promise((resolve) => (finished = resolve));
    const client = await serve({
      async *watch(_request, context) {
        try {
          yield { status: ServingStatus.SERVING };
          await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
        } finally {
          finished(context.signal.reason);
        }
      },
    });
    const watch = client.watch("");
    await watch.next();
    watch.cancel();
    await expect(ended).resolves.toBeDefined();
  });

  it("aborts the signal at the client's deadline and answers DEADLINE_EXCEEDED", async () => {
    let remaining: number | undefined;
    const client = await serve({
      async check(_request, context) {
        remaining = context.timeoutMs();
        await new Promise((_, reject) => context.signal.addEventListener("abort", () => reject(context.signal.reason)));
        return {};
      },
    });
    const error = await client.check("", undefined, Date.now() + 100).catch((e: ServiceError) => e);
    expect((error as ServiceError).code).toBe(grpcStatus.DEADLINE_EXCEEDED);
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(100);
  });
});
