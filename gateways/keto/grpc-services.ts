/**
 * Registers Keto's gRPC services on a Connect router, per port as Keto serves them (reference §1.1): read
 * (Check, Expand, Read, Namespaces, Version), write (Write, Version), opl (Syntax, Version).
 * Implementations throw `GatehouseError`s; the server's error interceptor turns them into statuses.
 */
import { planeService, type PlaneService } from "../server/plane-server.js";
import type { ConnectRouter } from "@connectrpc/connect";
import { SyntaxService } from "../../proto/gen/ory/keto/opl/v1alpha1/syntax_service_pb.js";
import { CheckService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/check_service_pb.js";
import { ExpandService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/expand_service_pb.js";
import { NamespacesService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/namespaces_service_pb.js";
import { ReadService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/read_service_pb.js";
import { VersionService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/version_pb.js";
import { WriteService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/write_service_pb.js";
import { createCheckService } from "./grpc-check-service.js";
import { createExpandService } from "./grpc-expand-service.js";
import { createNamespacesService } from "./grpc-namespaces-service.js";
import { createReadService } from "./grpc-read-service.js";
import { createSyntaxService } from "./grpc-syntax-service.js";
import { createVersionService } from "./grpc-version-service.js";
import { createWriteService } from "./grpc-write-service.js";
import { resolveKetoOptions, type KetoGatewayOptions } from "./options.js";

/** Which Keto port a server plays. */
export type KetoPlane = "read" | "write" | "opl";

/** The Keto gRPC services Keto serves on `plane`, ready for the plane server. */
export function ketoPlaneServices(options: KetoGatewayOptions, plane: KetoPlane): PlaneService[] {
  const o = resolveKetoOptions(options);
  const services = [planeService(VersionService, createVersionService(o))];
  switch (plane) {
    case "read":
      services.push(
        planeService(CheckService, createCheckService(o)),
        planeService(ExpandService, createExpandService(o)),
        planeService(ReadService, createReadService(o)),
        planeService(NamespacesService, createNamespacesService(o)),
      );
      break;
    case "write":
      services.push(planeService(WriteService, createWriteService(o)));
      break;
    case "opl":
      services.push(planeService(SyntaxService, createSyntaxService()));
      break;
  }
  return services;
}

/** Adds the Keto gRPC services of `plane` to a connect router (tests, embedding). */
export function registerKetoGrpcServices(router: ConnectRouter, options: KetoGatewayOptions, plane: KetoPlane): void {
  for (const { service, impl } of ketoPlaneServices(options, plane)) router.service(service, impl);
}
