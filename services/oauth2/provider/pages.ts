/**
 * The few pages the public plane renders itself (the provider calls them): the device-flow code entry,
 * confirmation and success pages, the page after logout, and the error page for requests that cannot be
 * redirected back to a client (an unknown client or redirect URI must never redirect: RFC 6749 §4.1.2.1).
 * `form` arguments are the provider's own forms (with its CSRF field); everything else is escaped.
 */
import { escapeHtml, renderPage } from "../../identity/ui/html.js";

/** The device flow's "enter the code" page. */
export function deviceInputPage(form: string, problem: string | undefined): string {
  return renderPage(
    "Connect a device",
    [
      problem === undefined ? `<p class="muted">Enter the code your device shows.</p>` : `<p class="error">${escapeHtml(problem)}</p>`,
      form,
      `<button type="submit" form="op.deviceInputForm">Continue</button>`,
    ].join("\n"),
  );
}

/** The device flow's "is this your device?" page. */
export function deviceConfirmPage(form: string, clientName: string, userCode: string): string {
  return renderPage(
    "Confirm the device",
    [
      `<p><strong>${escapeHtml(clientName)}</strong> asks to sign in. Continue only if your device shows this code:</p>`,
      `<p><code>${escapeHtml(userCode)}</code></p>`,
      form,
      `<button type="submit" form="op.deviceConfirmForm">Continue</button>`,
      `<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`,
    ].join("\n"),
  );
}

/** The device flow's last page. */
export function deviceSuccessPage(clientName: string): string {
  return renderPage("Device connected", `<p class="success">${escapeHtml(clientName)} is signed in. You can close this page.</p>`);
}

/** After a logout with no `post_logout_redirect_uri`. */
export function logoutSuccessPage(): string {
  return renderPage("Signed out", `<p class="success">You are signed out.</p>`);
}

/** An OAuth2 error that cannot go back to the client. */
export function errorPage(error: string, description: string | undefined): string {
  return renderPage(
    "Sign-in failed",
    [`<p class="error"><code>${escapeHtml(error)}</code></p>`, description === undefined ? "" : `<p>${escapeHtml(description)}</p>`].join("\n"),
  );
}

/**
 * The page that finishes an accepted logout: it loads the clients' front-channel logout URLs in hidden
 * frames, then posts the provider's confirmation (which ends the session and sends the back-channel logout
 * tokens) once they loaded, or after `frameTimeoutMillis`.
 */
export function logoutConfirmPage(action: string, fields: Record<string, string>, frames: readonly string[], nonce: string, frameTimeoutMillis = 3000): string {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join("");
  const iframes = frames.map((src) => `<iframe class="fc" hidden src="${escapeHtml(src)}"></iframe>`).join("");
  const script =
    `(function(){var form=document.getElementById("auto"),left=${frames.length},done=false;` +
    `function go(){if(!done){done=true;form.submit();}}` +
    `document.querySelectorAll("iframe.fc").forEach(function(f){f.addEventListener("load",function(){if(--left<=0)go();});});` +
    `if(left===0)go();setTimeout(go,${frameTimeoutMillis});})();`;
  return renderPage(
    "Signing out",
    `${iframes}<form id="auto" method="post" action="${escapeHtml(action)}">${inputs}<noscript><button type="submit">Continue</button></noscript></form>` +
      `<script nonce="${escapeHtml(nonce)}">${script}</script>`,
  );
}
