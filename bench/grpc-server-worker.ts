/**
 * The server side of the gRPC throughput bench, run in its own process so client and server each get a core.
 * argv[2] picks the variant:
 * - `plane-grpc-js`: Gatehouse's read plane, h2c handed to grpc-js (the default);
 * - `plane-connect`: the same plane with h2c handed to connect-node;
 * - `ceiling`: a bare grpc-js server whose Check returns a constant (no sniffer, no engine): the no-op ceiling.
 * Prints `port <n>` on stdout when ready.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";
import { startServer } from "../cli/commands/serve.js";
import { loopbackConfig } from "../cli/config/config.js";
import { PermissionService, type CheckRequest, type CheckResponse } from "../proto/gen/gatehouse/authz/v1/permission_service_pb.js";

const variant = process.argv[2] ?? "plane-grpc-js";

const model = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type doc
  relations
    define viewer: [user, group#member]`;

async function main(): Promise<void> {
  if (variant === "ceiling") {
    const method = PermissionService.method.check;
    const server = new Server();
    const answer = toBinary(method.output, create(method.output, { allowed: true }));
    server.register(
      `/${PermissionService.typeName}/${method.name}`,
      (call: ServerUnaryCall<CheckRequest, CheckResponse>, callback: sendUnaryData<Buffer>) => {
        void call.request;
        callback(null, Buffer.from(answer));
      },
      (b: Buffer) => b,
      (b: Buffer) => fromBinary(method.input, b),
      "unary",
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    process.stdout.write(`port ${port}\n`);
    return;
  }
  const config = loopbackConfig();
  config.serve.h2c = variant === "plane-connect" ? "connect" : "grpc-js";
  const server = await startServer(config, () => {});
  const { engine } = server;
  await engine.writeSchema(model);
  await engine.write([
    { op: "touch", tuple: { namespace: "doc", object: "d1", relation: "viewer", subject: { kind: "set", namespace: "group", object: "eng", relation: "member" } } },
    { op: "touch", tuple: { namespace: "group", object: "eng", relation: "member", subject: { kind: "set", namespace: "user", object: "anne", relation: "" } } },
  ]);
  process.stdout.write(`port ${server.planes.ports.read}\n`);
}

// Exit normally on a signal so that --cpu-prof can write its profile.
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
void main();
