/** Clients for the plane server tests: grpc-js and connect-node, speaking to the health service. */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient, type Client as ConnectClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Client, credentials, Metadata, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from "../../proto/gen/grpc/health/v1/health_pb.js";

const serialize = (message: HealthCheckRequest): Buffer => Buffer.from(toBinary(HealthCheckRequestSchema, message));
const deserialize = (bytes: Buffer): HealthCheckResponse => fromBinary(HealthCheckResponseSchema, bytes);

/** A grpc-js client (h2c) for the health service, with the binary serializers of the generated messages. */
export class GrpcHealthClient {
  private readonly client: Client;

  constructor(port: number) {
    this.client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  }

  check(service: string, metadata = new Metadata(), deadline?: number): Promise<HealthCheckResponse> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        "/grpc.health.v1.Health/Check",
        serialize,
        deserialize,
        create(HealthCheckRequestSchema, { service }),
        metadata,
        deadline === undefined ? {} : { deadline },
        (error: ServiceError | null, response?: HealthCheckResponse) => {
          if (error !== null) reject(error);
          else if (response === undefined) reject(new Error("no response"));
          else resolve(response);
        },
      );
    });
  }

  /** Checks a service and returns the response header and trailer metadata instead of the message. */
  checkWithMetadata(service: string, metadata: Metadata): Promise<{ header: Metadata; trailer: Metadata }> {
    return new Promise((resolve, reject) => {
      let header = new Metadata();
      const call = this.client.makeUnaryRequest(
        "/grpc.health.v1.Health/Check",
        serialize,
        deserialize,
        create(HealthCheckRequestSchema, { service }),
        metadata,
        (error: ServiceError | null) => {
          if (error !== null) reject(error);
        },
      );
      call.on("metadata", (received: Metadata) => (header = received));
      call.on("status", (status: StatusObject) => resolve({ header, trailer: status.metadata }));
    });
  }

  /** Watches a service: `next` returns the statuses in order; `pause` stops reading from the network. */
  watch(service: string): {
    next(): Promise<HealthCheckResponse>;
    ended: Promise<ServiceError | undefined>;
    cancel(): void;
    pause(): void;
  } {
    const call = this.client.makeServerStreamRequest(
      "/grpc.health.v1.Health/Watch",
      serialize,
      deserialize,
      create(HealthCheckRequestSchema, { service }),
    );
    const queue: HealthCheckResponse[] = [];
    const waiters: Array<(r: HealthCheckResponse) => void> = [];
    call.on("data", (message: HealthCheckResponse) => {
      const waiter = waiters.shift();
      if (waiter !== undefined) waiter(message);
      else queue.push(message);
    });
    const ended = new Promise<ServiceError | undefined>((resolve) => {
      call.on("error", (error: ServiceError) => resolve(error));
      call.on("end", () => resolve(undefined));
    });
    return {
      next: () => {
        const queued = queue.shift();
        return queued !== undefined ? Promise.resolve(queued) : new Promise((resolve) => waiters.push(resolve));
      },
      ended,
      cancel: () => call.cancel(),
      pause: () => call.pause(),
    };
  }

  close(): void {
    this.client.close();
  }
}

/** Which connect-node transport to build. */
export type ConnectProtocol = "connect" | "grpc-web" | "grpc-h2c";

/** A connect-node client for the health service over the given protocol (HTTP/1.1, except gRPC on h2c). */
export function connectHealthClient(port: number, protocol: ConnectProtocol, useHttpGet = false): ConnectClient<typeof Health> {
  const baseUrl = `http://127.0.0.1:${port}`;
  let transport: Transport;
  switch (protocol) {
    case "connect":
      transport = createConnectTransport({ baseUrl, httpVersion: "1.1", useHttpGet });
      break;
    case "grpc-web":
      transport = createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
      break;
    case "grpc-h2c":
      transport = createGrpcTransport({ baseUrl }); // always HTTP/2: h2c with prior knowledge on http://
      break;
  }
  return createClient(Health, transport);
}
