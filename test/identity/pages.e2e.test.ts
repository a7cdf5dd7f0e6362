/**
 * The built-in sign-in pages in a real browser (headless Chromium through playwright-core): register, sign
 * out, sign in, and see the welcome page — with the CSP in force (the inline stylesheet applies, nothing is
 * reported as blocked).
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or GATEHOUSE_CHROMIUM). Without it the suite is skipped with
 * a warning on a developer machine, and fails under CI (CI=true), where the CI script must install it.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";

const CHROMIUM = process.env["GATEHOUSE_CHROMIUM"] ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = process.env["CI"] !== undefined && process.env["CI"] !== "" && process.env["CI"] !== "false";
const SCREENSHOTS = process.env["GATEHOUSE_E2E_SCREENSHOTS"];

if (!HAVE_CHROMIUM && !IN_CI) {
  process.stderr.write(
    `\n*** test/identity/pages.e2e.test.ts SKIPPED: no Chromium at ${CHROMIUM} (install Debian's "chromium" package, or set GATEHOUSE_CHROMIUM) ***\n\n`,
  );
}

describe.runIf(!HAVE_CHROMIUM && IN_CI)("built-in pages in Chromium (prerequisite)", () => {
  it("has Chromium installed", () => {
    expect.fail(`no Chromium at ${CHROMIUM}: the CI script must install Debian's "chromium" package`);
  });
});

describe.runIf(HAVE_CHROMIUM)("built-in pages in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    const config = loopbackConfig();
    config.identity.argon2MemoryKib = 1024;
    config.identity.argon2Iterations = 1;
    server = await startServer(config, () => {});
    base = server.identity.publicBaseUrl;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function shot(page: Page, name: string): Promise<void> {
    if (SCREENSHOTS !== undefined) await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
  }

  it("registers, signs out, signs in and shows the welcome page", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    const email = "chromium@example.com";
    const password = "a long enough passphrase";

    await page.goto(`${base}/ui/registration`);
    expect(page.url()).toMatch(new RegExp(`^${base}/ui/registration\\?flow=`));
    await expect.poll(() => page.title()).toContain("Create an account");
    // The stylesheet applies under the CSP (allowed by its hash).
    expect(await page.evaluate(() => getComputedStyle(document.querySelector("main")!).borderTopLeftRadius)).toBe("12px");
    await shot(page, "1-registration");

    // A weak password comes back with its message, the email kept.
    await page.fill('input[name="traits.email"]', email);
    await page.fill('input[name="password"]', "short");
    await Promise.all([page.waitForURL(/\/ui\/registration\?flow=/), page.click('button[name="method"]')]);
    expect(await page.locator('[data-message-id="4000032"]').count()).toBe(1);
    expect(await page.inputValue('input[name="traits.email"]')).toBe(email);
    await shot(page, "2-registration-error");

    await page.fill('input[name="password"]', password);
    await Promise.all([page.waitForURL(`${base}/ui/welcome`), page.click('button[name="method"]')]);
    expect(await page.textContent('[data-testid="identity-name"]')).toBe(email);
    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name === "ory_kratos_session");
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe("Lax");
    await shot(page, "3-welcome");

    await Promise.all([page.waitForURL(/\/ui\/login\?flow=/), page.click("text=Sign out")]);
    expect((await context.cookies(base)).some((c) => c.name === "ory_kratos_session")).toBe(false);
    await shot(page, "4-login");

    await page.fill('input[name="identifier"]', email);
    await page.fill('input[name="password"]', password);
    await Promise.all([page.waitForURL(`${base}/ui/welcome`), page.click('button[name="method"]')]);
    expect(await page.textContent('[data-testid="identity-name"]')).toBe(email);

    expect(problems).toEqual([]);
    await context.close();
  });
});
