/**
 * A server that cannot start completely stops what it did start: when a later plane's port is taken, the
 * planes already listening are closed again (regression: a node whose identity port was taken stayed up
 * with its authz planes open, answering 503 forever, instead of exiting).
 */
import { createServer, type Server } from "node:net";
import { describe, expect, it } from "vitest";
import { startServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

describe("gatehouse serve start-up failures", () => {
  it("closes the planes it opened when a later port is taken, and says which", async () => {
    const blocker = await listen(0);
    const taken = (blocker.address() as { port: number }).port;
    const probe = await listen(0);
    const readPort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const config = loopbackConfig();
    config.serve.read.port = readPort;
    config.serve.identityPublic.port = taken;
    try {
      await expect(startServer(config, () => {})).rejects.toThrow(/EADDRINUSE|in use/i);
      // The read plane had started before the identity plane failed; its port is free again.
      const again = await listen(readPort);
      await new Promise<void>((resolve) => again.close(() => resolve()));
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
