/**
 * The OAuth 2.0 client credentials grant (RFC 6749 4.4) as `oauth2_client_credentials` and the
 * introspection pre-authorization send it: the client authenticates with HTTP Basic, id and secret
 * form-encoded first (RFC 6749 2.3.1), as Go's oauth2 `AuthStyleInHeader` does.
 */
import { sendWithRetry, type RetryPolicy } from "../retry.js";
import type { OutboundHttp, OutboundResponse } from "../outbound-http.js";
import { formBody, formEncode } from "./shared.js";

export interface ClientCredentialsGrant {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope: readonly string[];
  readonly audience?: string | undefined;
}

export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`, "utf8").toString("base64")}`;
}

export function requestClientCredentialsToken(http: OutboundHttp, grant: ClientCredentialsGrant, retry: RetryPolicy): Promise<OutboundResponse> {
  return sendWithRetry(
    http,
    {
      method: "POST",
      url: grant.tokenUrl,
      headers: {
        authorization: basicAuthorization(grant.clientId, grant.clientSecret),
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: formBody({
        grant_type: "client_credentials",
        scope: grant.scope.length > 0 ? grant.scope.join(" ") : undefined,
        audience: grant.audience,
      }),
    },
    retry,
  );
}
