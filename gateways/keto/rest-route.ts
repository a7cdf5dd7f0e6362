/** The shape of one REST route of the Keto handler. */
import type { IncomingMessage, ServerResponse } from "node:http";

/** Handles one request whose method and path matched; throws `GatehouseError`s for error answers. */
export type RestRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;
