/**
 * What the identity service's built-in login, consent and logout app (`/ui/oauth2/*`) needs from the OAuth2
 * service: Hydra's login/consent/logout request operations. In one process it is the OAuth2 service's
 * `LoginConsentService`; it is late-bound (`OAuth2BridgeRef`) because each service needs the other's URL.
 */
import type { ConsentRequest, LoginRequest, LogoutRequest, RedirectTo } from "../oauth2/flows/login-consent.js";

/** Hydra's login/consent/logout request operations (bodies as on the admin API). */
export interface OAuth2LoginBridge {
  getLoginRequest(challenge: string): Promise<LoginRequest>;
  acceptLogin(challenge: string, body: Record<string, unknown>): Promise<RedirectTo>;
  rejectLogin(challenge: string, body: Record<string, unknown>): Promise<RedirectTo>;
  getConsentRequest(challenge: string): Promise<ConsentRequest>;
  acceptConsent(challenge: string, body: Record<string, unknown>): Promise<RedirectTo>;
  rejectConsent(challenge: string, body: Record<string, unknown>): Promise<RedirectTo>;
  getLogoutRequest(challenge: string): Promise<LogoutRequest>;
  acceptLogout(challenge: string): Promise<RedirectTo>;
  rejectLogout(challenge: string): Promise<void>;
}

/** A bridge set once the OAuth2 service is up (undefined: the OAuth2 service is not running here). */
export interface OAuth2BridgeRef {
  current: OAuth2LoginBridge | undefined;
}
