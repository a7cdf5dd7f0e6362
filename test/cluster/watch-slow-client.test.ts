/**
 * A Watch client that stops reading: the server holds at most what the transport buffers (it stops reading
 * the changelog for that stream), then closes the stream with RESOURCE_EXHAUSTED and a message that says
 * why, and keeps serving everyone else.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";
import type { TupleStore } from "../../engine/store/index.js";
import { encodeSnaptoken } from "../../engine/snaptoken.js";
import { parseTuple } from "../../engine/tuple.js";
import { RelationshipService, type WatchResponse } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";

const model = `model
  schema 1.1
type user
type doc
  relations
    define viewer: [user]`;

const WRITES = 600;
const TUPLES_PER_WRITE = 100;

describe("Watch with a client that stops reading", () => {
  let server: RunningServer;
  let client: Client;
  let store: TupleStore;
  /** The newest revision any Watch page read from the changelog (the engine's own catch-ups read 10,000). */
  let watchReadThrough = 0;

  beforeAll(async () => {
    const config = loopbackConfig();
    config.watch.sendTimeoutMillis = 1_000;
    server = await startServer(config, () => {});
    await server.engine.writeSchema(model);
    // Spy on the store the engine reads: Watch pages ask for at most 1,000 changes at a time.
    store = (server.engine as unknown as { store: TupleStore }).store;
    const changes = store.changes.bind(store);
    store.changes = async (after, limit) => {
      const page = await changes(after, limit);
      if (limit === 1_000 && page.untilRevision > watchReadThrough) watchReadThrough = page.untilRevision;
      return page;
    };
    client = new Client(`127.0.0.1:${server.planes.ports.read}`, credentials.createInsecure());
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it("stops reading the changelog for it, then closes its stream with RESOURCE_EXHAUSTED", async () => {
    const method = RelationshipService.method.watch;
    const stream = client.makeServerStreamRequest(
      `/${method.parent.typeName}/${method.name}`,
      (m: unknown) => Buffer.from(toBinary(method.input, m as never)),
      (b: Buffer) => fromBinary(method.output, b),
      create(method.input, { start: { token: encodeSnaptoken(server.engine.revision) } }),
      new Metadata(),
      {},
    );
    let received = 0;
    let lastThrough = "";
    const ended = new Promise<ServiceError | undefined>((resolve) => {
      stream.on("error", (err: ServiceError) => resolve(err));
      stream.on("end", () => resolve(undefined));
    });
    stream.on("data", (message: WatchResponse) => {
      received++;
      lastThrough = message.changesThrough?.token ?? lastThrough;
    });
    stream.pause();
    // About 60 MB of changes with long ids (a message is 1,000 changes), far more than the transport buffers.
    const pad = "x".repeat(900);
    const start = server.engine.revision;
    for (let w = 0; w < WRITES; w++) {
      const tuples = Array.from({ length: TUPLES_PER_WRITE }, (_, i) => ({
        op: "touch" as const,
        tuple: parseTuple(`doc:${pad}-${w}-${i}#viewer@user:u${i}`),
      }));
      await server.engine.write(tuples);
    }
    const head = server.engine.revision;
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Backpressure: the stream stops asking the changelog for more long before the head (the transport and
    // the client's buffers take a few pages first, so wait until the position holds still), and stays put.
    let stalledAt = watchReadThrough;
    for (let stableSince = Date.now(); Date.now() - stableSince < 500; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (watchReadThrough !== stalledAt) {
        stalledAt = watchReadThrough;
        stableSince = Date.now();
      }
    }
    expect(stalledAt).toBeGreaterThan(start);
    expect(stalledAt).toBeLessThan(head - WRITES / 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(watchReadThrough).toBe(stalledAt);
    // Reading again after the send timeout: what was buffered arrives, then the clear error.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stream.resume();
    const error = await ended;
    expect(error?.code).toBe(8); // RESOURCE_EXHAUSTED
    expect(error?.details).toMatch(/did not read this stream for 1000 ms/);
    expect(received).toBeLessThan(WRITES);
    expect(lastThrough).not.toBe("");

    // The server is fine: a new Watch resumes from the last token the slow client got.
    const resumed = client.makeServerStreamRequest(
      `/${method.parent.typeName}/${method.name}`,
      (m: unknown) => Buffer.from(toBinary(method.input, m as never)),
      (b: Buffer) => fromBinary(method.output, b),
      create(method.input, { start: { token: lastThrough } }),
      new Metadata(),
      {},
    );
    const first = await new Promise<WatchResponse>((resolve, reject) => {
      resumed.once("data", resolve);
      resumed.once("error", reject);
    });
    resumed.cancel();
    resumed.on("error", () => {});
    expect(first.changes.length).toBeGreaterThan(0);
  }, 60_000);
});
