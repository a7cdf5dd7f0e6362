/**
 * Hydra's login, consent and logout requests over oidc-provider's interactions: what the admin API's
 * `/admin/oauth2/auth/requests/{login,consent,logout}` and the built-in login/consent app call.
 *
 * A login or consent challenge names a provider interaction (see `provider/challenges.ts`). Accepting one
 * writes the result onto the interaction and answers `{redirect_to}`, the interaction's resume URL; the
 * browser going there lets the provider continue. Each handled challenge leaves a marker until it would
 * have expired, so a second accept or reject (a retrying login app) gets 410 with the same `redirect_to`,
 * as Hydra answers.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Provider } from "oidc-provider";
import type { HydraClient } from "../clients/hydra-client.js";
import { invalidRequest, notFound, OAuth2HttpError } from "../api/http-io.js";
import type { ChallengeCodec, ChallengePurpose } from "../provider/challenges.js";
import { GRANT_CLAIMS_MODEL, INJECTED_PROMPT_PARAM, LOGOUT_REQUEST_MODEL, VERIFIER_HASH_FIELD, type StoredLogoutRequest } from "../provider/create-provider.js";
import type { ConsentRecord, OAuth2Store } from "../store/oauth2-store.js";

/** The artifact model of handled-challenge markers. */
const HANDLED_MODEL = "HandledChallenge";

/** Hydra's `oidc_context`. */
export interface OidcContext {
  acr_values: string[];
  display: string;
  id_token_hint_claims: Record<string, unknown>;
  login_hint: string;
  ui_locales: string[];
}

/** Hydra's `oAuth2LoginRequest`. */
export interface LoginRequest {
  challenge: string;
  skip: boolean;
  subject: string;
  client: Record<string, unknown>;
  request_url: string;
  requested_scope: string[];
  requested_access_token_audience: string[];
  session_id?: string;
  oidc_context: OidcContext;
}

/** Hydra's `oAuth2ConsentRequest`. */
export interface ConsentRequest {
  challenge: string;
  consent_request_id: string;
  skip: boolean;
  subject: string;
  client: Record<string, unknown>;
  request_url: string;
  requested_scope: string[];
  requested_access_token_audience: string[];
  acr: string;
  amr: string[];
  context: unknown;
  login_challenge?: string;
  login_session_id?: string;
  oidc_context: OidcContext;
}

/** Hydra's `oAuth2LogoutRequest`. */
export interface LogoutRequest {
  challenge: string;
  subject: string;
  sid: string;
  request_url: string;
  rp_initiated: boolean;
  client?: Record<string, unknown>;
  requested_at: string;
  expires_at: string;
}

/** `{redirect_to}`. */
export interface RedirectTo {
  redirect_to: string;
}

/** Options of the service. */
export interface LoginConsentOptions {
  readonly provider: Provider;
  readonly store: OAuth2Store;
  readonly challenges: ChallengeCodec;
  readonly issuer: string;
  /** Hydra's client JSON without secrets. */
  readonly clientJson: (client: HydraClient) => Record<string, unknown>;
  readonly now?: () => number;
}

/** The interaction fields this module reads (oidc-provider's `Interaction` model). */
interface InteractionLike {
  uid: string;
  exp: number;
  returnTo: string;
  prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
  params: Record<string, unknown>;
  session?: { accountId?: string; uid?: string; acr?: string; amr?: string[] };
  lastSubmission?: Record<string, unknown>;
  grantId?: string;
  result?: Record<string, unknown>;
  save(ttl: number): Promise<string>;
}

/** Extra data a login accept passes on to the consent request (Hydra's `context`, ...). */
interface LoginExtras {
  context?: unknown;
  login_challenge?: string;
  identity_provider_session_id?: string;
}

const asStringArray = (value: unknown, field: string): string[] => {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw invalidRequest(`${field} must be an array of strings.`);
  return value as string[];
};

const asOptionalString = (value: unknown, field: string): string | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidRequest(`${field} must be a string.`);
  return value;
};

const asOptionalBool = (value: unknown, field: string): boolean | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalidRequest(`${field} must be a boolean.`);
  return value;
};

const asNonNegativeInt = (value: unknown, field: string): number | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw invalidRequest(`${field} must be a non-negative integer (seconds).`);
  return value;
};

const splitSpaces = (value: unknown): string[] => (typeof value === "string" ? value.split(" ").filter((s) => s !== "") : []);

/** The login, consent and logout requests. */
export class LoginConsentService {
  private readonly now: () => number;

  constructor(private readonly options: LoginConsentOptions) {
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  // ---- login ----

  async getLoginRequest(challenge: string): Promise<LoginRequest> {
    const interaction = await this.openInteraction(challenge, "login", "login_challenge");
    return {
      challenge,
      // A remembered login never reaches the login app (the provider resumes on its own), so a login the
      // app sees always needs the user.
      skip: false,
      subject: "",
      client: await this.clientOf(interaction),
      request_url: this.requestUrl(interaction),
      requested_scope: splitSpaces(interaction.params["scope"]),
      requested_access_token_audience: splitSpaces(interaction.params["audience"]),
      ...(interaction.session?.uid === undefined ? {} : { session_id: interaction.session.uid }),
      oidc_context: this.oidcContext(interaction),
    };
  }

  async acceptLogin(challenge: string, body: Record<string, unknown>): Promise<RedirectTo> {
    const subject = body["subject"];
    if (typeof subject !== "string" || subject === "") throw invalidRequest("subject is required: the id of the user who signed in.");
    const remember = asOptionalBool(body["remember"], "remember") ?? false;
    asNonNegativeInt(body["remember_for"], "remember_for");
    const acr = asOptionalString(body["acr"], "acr");
    const amr = asStringArray(body["amr"], "amr");
    const idpSession = asOptionalString(body["identity_provider_session_id"], "identity_provider_session_id");
    const interaction = await this.openInteraction(challenge, "login", "login_challenge");
    const extras: LoginExtras = {
      ...(body["context"] === undefined ? {} : { context: body["context"] }),
      login_challenge: challenge,
      ...(idpSession === undefined ? {} : { identity_provider_session_id: idpSession }),
    };
    return this.finish(interaction, "login", {
      login: { accountId: subject, remember, ts: this.now(), ...(acr === undefined ? {} : { acr }), ...(amr.length === 0 ? {} : { amr }) },
      gatehouse: extras,
    });
  }

  async rejectLogin(challenge: string, body: Record<string, unknown>): Promise<RedirectTo> {
    const interaction = await this.openInteraction(challenge, "login", "login_challenge");
    return this.finish(interaction, "login", rejection(body));
  }

  // ---- consent ----

  async getConsentRequest(challenge: string): Promise<ConsentRequest> {
    return this.consentRequestOf(await this.openInteraction(challenge, "consent", "consent_challenge"), challenge);
  }

  async acceptConsent(challenge: string, body: Record<string, unknown>): Promise<RedirectTo> {
    const grantScope = asStringArray(body["grant_scope"], "grant_scope");
    const grantAudience = asStringArray(body["grant_access_token_audience"], "grant_access_token_audience");
    const remember = asOptionalBool(body["remember"], "remember") ?? false;
    const rememberFor = asNonNegativeInt(body["remember_for"], "remember_for") ?? 0;
    const sessionBody = body["session"];
    if (sessionBody !== undefined && sessionBody !== null && (typeof sessionBody !== "object" || Array.isArray(sessionBody))) {
      throw invalidRequest("session must be an object with optional access_token and id_token objects.");
    }
    const session = (sessionBody ?? {}) as Record<string, unknown>;
    for (const part of ["access_token", "id_token"]) {
      const value = session[part];
      if (value !== undefined && value !== null && (typeof value !== "object" || Array.isArray(value))) throw invalidRequest(`session.${part} must be an object.`);
    }
    const interaction = await this.openInteraction(challenge, "consent", "consent_challenge");
    const accountId = interaction.session?.accountId;
    const clientId = String(interaction.params["client_id"] ?? "");
    if (accountId === undefined) throw new OAuth2HttpError(409, "conflict", "The consent request has no signed-in subject.");
    const { Grant } = this.options.provider;
    const existing = interaction.grantId === undefined ? undefined : await Grant.find(interaction.grantId);
    const grant = existing ?? new Grant({ accountId, clientId });
    if (grantScope.length > 0) grant.addOIDCScope(grantScope.join(" "));
    // Requested scopes left out were seen and refused: without this the provider would ask again.
    const refused = splitSpaces(interaction.params["scope"]).filter((s) => !grantScope.includes(s));
    if (refused.length > 0) grant.rejectOIDCScope(refused.join(" "));
    const grantId = await grant.save();
    const grantTtl = Math.max(1, (grant.exp ?? this.now() + 3600) - this.now());
    const accessClaims = session["access_token"] as Record<string, unknown> | undefined;
    const idClaims = session["id_token"] as Record<string, unknown> | undefined;
    if (accessClaims !== undefined || idClaims !== undefined) {
      await this.options.store.upsert(
        GRANT_CLAIMS_MODEL,
        grantId,
        { grantId, ...(accessClaims === undefined ? {} : { access_token: accessClaims }), ...(idClaims === undefined ? {} : { id_token: idClaims }) },
        grantTtl,
      );
    }
    const handledAt = new Date(this.now() * 1000);
    const request = await this.consentRequestOf(interaction, challenge);
    const record: ConsentRecord = {
      id: interaction.uid,
      subject: accountId,
      clientId,
      grantId,
      ...(interaction.session?.uid === undefined ? {} : { loginSessionId: interaction.session.uid }),
      session: {
        consent_request: request,
        consent_request_id: interaction.uid,
        grant_scope: grantScope,
        grant_access_token_audience: grantAudience,
        remember,
        remember_for: rememberFor,
        handled_at: handledAt.toISOString(),
        session: { access_token: accessClaims ?? {}, id_token: idClaims ?? {} },
        context: body["context"] ?? request.context ?? null,
      },
      grantedScopes: grantScope,
      grantedAudience: grantAudience,
      remember,
      handledAt,
      ...(remember && rememberFor > 0 ? { expiresAt: new Date((this.now() + rememberFor) * 1000) } : {}),
    };
    await this.options.store.putConsent(record);
    return this.finish(interaction, "consent", { ...(interaction.lastSubmission ?? {}), consent: { grantId } });
  }

  async rejectConsent(challenge: string, body: Record<string, unknown>): Promise<RedirectTo> {
    const interaction = await this.openInteraction(challenge, "consent", "consent_challenge");
    return this.finish(interaction, "consent", rejection(body));
  }

  // ---- logout ----

  async getLogoutRequest(challenge: string): Promise<LogoutRequest> {
    const { request } = await this.openLogout(challenge);
    const client = request.clientId === undefined ? undefined : await this.options.store.getClient(request.clientId);
    return {
      challenge,
      subject: request.subject,
      sid: request.sid,
      request_url: request.requestUrl,
      rp_initiated: request.rpInitiated,
      ...(client === undefined ? {} : { client: this.options.clientJson(client) }),
      requested_at: new Date(request.requestedAt * 1000).toISOString(),
      expires_at: new Date(request.expiresAt * 1000).toISOString(),
    };
  }

  /** Accepts a logout: `redirect_to` posts the provider's confirmation, which ends the session and notifies clients. */
  async acceptLogout(challenge: string): Promise<RedirectTo> {
    const { id, request } = await this.openLogout(challenge);
    const verifier = this.options.challenges.seal({ purpose: "logout", id: `verify:${id}`, exp: request.expiresAt });
    const redirectTo = `${this.options.issuer}/oauth2/sessions/logout/verify?logout_verifier=${encodeURIComponent(verifier)}`;
    await this.options.store.upsert(LOGOUT_REQUEST_MODEL, id, { ...request, handled: "accepted" }, Math.max(1, request.expiresAt - this.now()));
    await this.markHandled("logout", id, redirectTo, request.expiresAt);
    return { redirect_to: redirectTo };
  }

  /** Rejects a logout: the session stays (Hydra answers 204). */
  async rejectLogout(challenge: string): Promise<void> {
    const { id, request } = await this.openLogout(challenge);
    await this.options.store.destroy(LOGOUT_REQUEST_MODEL, id);
    await this.markHandled("logout", id, request.requestUrl, request.expiresAt);
  }

  /**
   * The provider's logout confirmation fields for an accepted logout's verifier (used once): the browser
   * posts them to `/oauth2/sessions/logout/confirm`.
   */
  async logoutConfirmation(verifier: string): Promise<{ xsrf: string; frontChannelUrls: readonly string[] }> {
    const opened = this.options.challenges.open(verifier, "logout", "logout_verifier");
    if (!opened.id.startsWith("verify:")) throw notFound("The logout_verifier is unknown.");
    const id = opened.id.slice("verify:".length);
    const request = (await this.options.store.find(LOGOUT_REQUEST_MODEL, id)) as StoredLogoutRequest | undefined;
    if (request === undefined || request.handled !== "accepted") throw notFound("The logout_verifier is unknown or was already used.");
    await this.options.store.destroy(LOGOUT_REQUEST_MODEL, id);
    return { xsrf: request.secret, frontChannelUrls: request.frontChannelUrls ?? [] };
  }

  // ---- sessions ----

  /** Hydra's `oAuth2ConsentSession` list of a subject, newest first. */
  async listConsentSessions(subject: string, options: { pageSize?: number; pageToken?: string; loginSessionId?: string } = {}): Promise<{ items: Record<string, unknown>[]; nextPageToken?: string }> {
    const page = await this.options.store.listConsents(subject, options);
    return { items: page.items.map((r) => r.session), ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }) };
  }

  /** Forgets a subject's consents (one client's or all) and revokes every token issued from them. */
  async revokeConsentSessions(subject: string, clientId: string | undefined): Promise<number> {
    const removed = await this.options.store.deleteConsents(subject, clientId);
    for (const record of removed) {
      await this.options.store.revokeByGrantId(record.grantId);
      await this.options.store.destroy("Grant", record.grantId);
    }
    return removed.length;
  }

  /** Ends a login session by its id (Hydra's `sid`); tokens stay valid, as with Hydra. */
  async revokeLoginSession(sid: string): Promise<boolean> {
    // Straight at the store: sessions are kept under the hash of their cookie, which the record's jti holds.
    const session = await this.options.store.findByUid("Session", sid);
    const key = session?.["jti"];
    if (typeof key !== "string") return false;
    await this.options.store.destroy("Session", key);
    return true;
  }

  /** Ends every login session of a subject (Hydra: no front- or back-channel logout); returns how many. */
  async revokeLoginSessionsOf(subject: string): Promise<number> {
    return this.options.store.destroyByAccountId("Session", subject);
  }

  // ---- internals ----

  private async openInteraction(challenge: string, purpose: "login" | "consent", field: string): Promise<InteractionLike> {
    const opened = this.options.challenges.open(challenge, purpose, field);
    await this.throwIfHandled(purpose, opened.id);
    const interaction = (await this.options.provider.Interaction.find(opened.id)) as unknown as InteractionLike | undefined;
    if (interaction === undefined) throw notFound(`The ${field} is unknown or its request was already completed.`);
    if (interaction.prompt.name !== purpose) throw notFound(`The ${field} is not a ${purpose} challenge.`);
    if (interaction.result !== undefined) {
      const handled = await this.options.store.find(HANDLED_MODEL, `${purpose}:${interaction.uid}`);
      throw new OAuth2HttpError(410, "request_handled", `The ${purpose} request was already handled.`, { redirect_to: String(handled?.["redirect_to"] ?? interaction.returnTo) });
    }
    return interaction;
  }

  private async openLogout(challenge: string): Promise<{ id: string; request: StoredLogoutRequest }> {
    const opened = this.options.challenges.open(challenge, "logout", "logout_challenge");
    if (opened.id.startsWith("verify:")) throw notFound("The logout_challenge is not a logout challenge.");
    await this.throwIfHandled("logout", opened.id);
    const request = (await this.options.store.find(LOGOUT_REQUEST_MODEL, opened.id)) as StoredLogoutRequest | undefined;
    if (request === undefined) throw notFound("The logout_challenge is unknown.");
    return { id: opened.id, request };
  }

  private async throwIfHandled(purpose: ChallengePurpose, id: string): Promise<void> {
    const handled = await this.options.store.find(HANDLED_MODEL, `${purpose}:${id}`);
    if (handled !== undefined) {
      throw new OAuth2HttpError(410, "request_handled", `The ${purpose} request was already handled.`, { redirect_to: String(handled["redirect_to"] ?? "") });
    }
  }

  private async markHandled(purpose: ChallengePurpose, id: string, redirectTo: string, exp: number): Promise<void> {
    await this.options.store.upsert(HANDLED_MODEL, `${purpose}:${id}`, { redirect_to: redirectTo }, Math.max(1, exp - this.now()));
  }

  /**
   * Stores the result on the interaction and answers `redirect_to`: the resume URL plus a one-time verifier
   * (Hydra's `login_verifier` / `consent_verifier`) the provider requires before resuming (see
   * `requireResumeVerifier`), so only the browser the app redirects can continue. Rejections carry one too.
   */
  private async finish(interaction: InteractionLike, purpose: "login" | "consent", result: Record<string, unknown>): Promise<RedirectTo> {
    const verifier = randomBytes(32).toString("base64url");
    interaction.result = { ...result, [VERIFIER_HASH_FIELD]: createHash("sha256").update(verifier, "utf8").digest("hex") };
    await interaction.save(Math.max(1, interaction.exp - this.now()));
    const redirectTo = new URL(interaction.returnTo);
    redirectTo.searchParams.set(`${purpose}_verifier`, verifier);
    await this.markHandled(purpose, interaction.uid, redirectTo.href, interaction.exp);
    return { redirect_to: redirectTo.href };
  }

  /** Hydra's consent request of an interaction (what GET answers, and what a consent session lists). */
  private async consentRequestOf(interaction: InteractionLike, challenge: string): Promise<ConsentRequest> {
    const extras = (interaction.lastSubmission?.["gatehouse"] ?? {}) as LoginExtras;
    const login = interaction.lastSubmission?.["login"] as { acr?: string; amr?: string[] } | undefined;
    return {
      challenge,
      consent_request_id: interaction.uid,
      skip: false,
      subject: interaction.session?.accountId ?? "",
      client: await this.clientOf(interaction),
      request_url: this.requestUrl(interaction),
      requested_scope: splitSpaces(interaction.params["scope"]),
      requested_access_token_audience: splitSpaces(interaction.params["audience"]),
      acr: login?.acr ?? interaction.session?.acr ?? "",
      amr: login?.amr ?? interaction.session?.amr ?? [],
      context: extras.context ?? null,
      ...(extras.login_challenge === undefined ? {} : { login_challenge: extras.login_challenge }),
      ...(interaction.session?.uid === undefined ? {} : { login_session_id: interaction.session.uid }),
      oidc_context: this.oidcContext(interaction),
    };
  }

  private async clientOf(interaction: InteractionLike): Promise<Record<string, unknown>> {
    const id = String(interaction.params["client_id"] ?? "");
    const client = await this.options.store.getClient(id);
    return client === undefined ? { client_id: id } : this.options.clientJson(client);
  }

  private requestUrl(interaction: InteractionLike): string {
    const query = new URLSearchParams();
    const injected = interaction.params[INJECTED_PROMPT_PARAM] === "1";
    for (const [key, value] of Object.entries(interaction.params)) {
      if (typeof value !== "string" || key === INJECTED_PROMPT_PARAM) continue;
      if (key === "prompt" && injected) {
        // The client's own prompt, without the `consent` Gatehouse added.
        const own = value.split(" ").filter((p) => p !== "consent");
        if (own.length > 0) query.set(key, own.join(" "));
        continue;
      }
      query.set(key, value);
    }
    return `${this.options.issuer}/oauth2/auth?${query.toString()}`;
  }

  private oidcContext(interaction: InteractionLike): OidcContext {
    const p = interaction.params;
    return {
      acr_values: splitSpaces(p["acr_values"]),
      display: typeof p["display"] === "string" ? p["display"] : "",
      id_token_hint_claims: {},
      login_hint: typeof p["login_hint"] === "string" ? p["login_hint"] : "",
      ui_locales: splitSpaces(p["ui_locales"]),
    };
  }
}

/** A reject body as an interaction result (Hydra's `rejectOAuth2Request`; default `access_denied`). */
function rejection(body: Record<string, unknown>): Record<string, unknown> {
  const error = asOptionalString(body["error"], "error") ?? "access_denied";
  if (!/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/.test(error)) throw invalidRequest("error must be an OAuth2 error code.");
  const description = asOptionalString(body["error_description"], "error_description");
  const hint = asOptionalString(body["error_hint"], "error_hint");
  const text = [description, hint].filter((s) => s !== undefined && s !== "").join(" ");
  return { error, ...(text === "" ? {} : { error_description: text }) };
}
