// The MCP Inspector, the real one, in a real browser (Debian's chromium driven by playwright-core)
// against the server behind Traefik. The Inspector connects, gets the 401, discovers the
// metadata, gets a client (registered dynamically, or the realm's pre-registered
// `mcp-inspector`), and sends the browser to the login page, where this script signs in as USER.
// Then it lists the tools, calls `search` for "chocolate", and this script reads the hits off the
// page and saves a screenshot of them.
//
// MODE
//   direct  Inspector v1 (1.0.3), the line that connects from the page itself: the page calls
//           https://mcp.localhost/mcp and the authorization server with
//           `Origin: http://localhost:6274`, so CORS and the Origin check meet a real browser. It
//           uses the pre-registered client `mcp-inspector`, whose redirect URI is on the
//           Inspector's default port 6274 (Keycloak answers CORS on its token endpoint for a
//           client's web origins, which a dynamically registered client lacks).
//   proxy   Inspector v1 through its own proxy process, which calls the server; the client is
//           registered dynamically.
//   latest  Inspector v2 (what `npx @modelcontextprotocol/inspector` runs today): its web
//           server holds the connection for the page, and the client is registered dynamically.
//           It speaks the initialize-based revisions (its default, "legacy" era).
//   modern  Inspector v2 with `--protocol-era modern`: the stateless 2026-07-28 revision.
//
// Usage: node inspector_browser.mjs MCP_URL CA_FILE MODE USER SCREENSHOT.
// Prints a JSON report on the last line; exits non-zero if any step fails.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.mjs";

const [mcpUrl, caFile, mode, user, screenshot] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const preload = ["--import", path.join(here, "localhost_names.mjs")];
const log = (...a) => console.error("[inspector-test]", ...a);

/** `count` distinct free ports: every socket is held until all are bound, so none repeats. */
async function freePorts(count) {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => resolve(s));
    })),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

async function portTaken(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1", () => c.end(() => resolve(true)));
    c.on("error", () => resolve(false));
  });
}

/** Waits for `url` to answer; with `json`, for an answer that is JSON (not a page). */
async function waitFor(url, { json = false } = {}) {
  for (let i = 0; i < 200; i++) {
    try {
      const response = await fetch(url);
      if (!json || (response.ok && (await response.json()))) return;
    } catch {
      // not listening yet, or a page where JSON was expected
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer${json ? " with JSON" : ""}`);
}

const children = [];
function start(args, env) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, MCP_AUTO_OPEN_ENABLED: "false", NODE_EXTRA_CA_CERTS: caFile, ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
}
const stop = () => children.forEach((c) => c.kill());
process.on("exit", stop);

/** Signs in on the authorization server's pages, then waits until the browser is back at `home`. */
async function signInOnPage(page, home) {
  log("waiting for the login page");
  await page.waitForURL((u) => u.hostname === "auth.localhost");
  // The login form, then a consent form if the server shows one, until the browser is back.
  for (let step = 0; step < 4 && new URL(page.url()).hostname === "auth.localhost"; step++) {
    // The look-alike's form names its field `login` and takes any password; Keycloak's names it
    // `username` and takes SIGN_IN_PASSWORD.
    const login = page.locator('input[name="login"], input[name="username"]');
    if (await login.count()) {
      await login.fill(user);
      await page.locator('input[name="password"]').fill(process.env.SIGN_IN_PASSWORD ?? "any");
    }
    const before = page.url();
    log("submitting", new URL(before).pathname);
    // Keycloak's consent page has two submit buttons; `accept` is the one to press.
    const accept = page.locator('[name="accept"]');
    const submit = (await accept.count()) ? accept.first() : page.locator('button[type="submit"], input[type="submit"]').first();
    await Promise.all([page.waitForURL((u) => u.href !== before), submit.click()]);
    await page.waitForLoadState();
  }
  await page.waitForURL((u) => u.origin === home);
}

/**
 * Waits for the tool list and notes the tools it shows by their titles, which the server gives
 * in tools/list; returns the `search` entry.
 */
async function listedTools(page, report) {
  const search = page.getByText("Search documents", { exact: true }).first();
  await search.waitFor();
  for (const title of ["Search documents", "Fetch document"]) {
    if (await page.getByText(title, { exact: true }).count()) report.tools.push(title);
  }
  return search;
}

/** Reads the ids and titles of the hits off text the Inspector draws as a JSON tree. */
function hits(text) {
  return {
    ids: [...new Set([...text.matchAll(/\bid"?:\s*"([^"]+)"/g)].map((m) => m[1]))],
    titles: [...new Set([...text.matchAll(/\btitle"?:\s*"([^"]+)"/g)].map((m) => m[1]))],
  };
}

/**
 * Types the search text into the tool form and waits until the form holds it and `button` can be
 * pressed. The Inspector can redraw the form just after a tool is chosen (a late tools/list answer
 * gives it a new key), which clears what was typed and leaves the button disabled, as `query` is
 * required; a user types again, and so does this script, saying so.
 */
async function fillQuery(page, button) {
  const query = page.getByRole("textbox", { name: "query" });
  const run = page.getByRole("button", { name: button });
  for (let attempt = 1; ; attempt++) {
    await query.fill("chocolate");
    await page.waitForTimeout(250);
    const held = await query.inputValue().catch(() => "");
    const enabled = await run.isEnabled().catch(() => false);
    if (held === "chocolate" && enabled) return run;
    if (attempt === 20) {
      throw new Error(`the tool form does not keep the query: it holds "${held}" and ${button} is ${enabled ? "enabled" : "disabled"}`);
    }
    log(`the tool form holds "${held}" and ${button} is ${enabled ? "enabled" : "disabled"}; typing the query again`);
  }
}

/**
 * Waits for the outcome of a tool call: `done` when the result is drawn, or an error the Inspector
 * shows instead, which becomes the failure's message.
 */
async function outcome(page, done) {
  const error = page.getByText(/Tool Result: Error|MCP error -?\d+|isError/).first();
  const first = await Promise.race([done.waitFor().then(() => "done"), error.waitFor().then(() => "error")]).catch(
    async (e) => {
      const waiting = await page.getByRole("button", { name: "Cancel" }).isVisible().catch(() => false);
      throw new Error(`${waiting ? "the search got no answer (the Inspector still offers Cancel)" : "no result was drawn"}: ${e.message.split("\n")[0]}`);
    },
  );
  if (first === "error") throw new Error(`the search failed in the Inspector: ${(await error.innerText()).slice(0, 400)}`);
}

/** Inspector v1 in `direct` or `proxy` mode. */
async function inspectorV1(page, report) {
  const inspector = path.join(here, "node_modules/inspector-v1");
  const [proxyPort, freeClientPort] = await freePorts(2);
  const clientPort = mode === "direct" ? 6274 : freeClientPort;
  if (await portTaken(clientPort)) throw new Error(`port ${clientPort} is taken (is an MCP Inspector running?)`);
  const token = crypto.randomBytes(16).toString("hex");
  const env = { CLIENT_PORT: String(clientPort), SERVER_PORT: String(proxyPort), MCP_PROXY_AUTH_TOKEN: token };
  start([...preload, path.join(inspector, "server/build/index.js")], env);
  start([path.join(inspector, "client/bin/client.js")], env);
  const home = `http://localhost:${clientPort}`;
  await waitFor(`${home}/`);
  // The proxy's health is JSON; a page here would mean another server holds the port.
  await waitFor(`http://localhost:${proxyPort}/health`, { json: true });

  const query = new URLSearchParams({
    transport: "streamable-http",
    serverUrl: mcpUrl,
    MCP_PROXY_AUTH_TOKEN: token,
    MCP_PROXY_FULL_ADDRESS: `http://localhost:${proxyPort}`,
  });
  await page.goto(`${home}/?${query}`);
  await page.getByRole("combobox", { name: "Connection Type" }).click();
  await page.getByRole("option", { name: mode === "direct" ? "Direct" : "Via Proxy" }).click();
  if (mode === "direct") {
    await page.getByRole("button", { name: "Authentication" }).click();
    await page.getByRole("textbox", { name: "Client ID" }).fill("mcp-inspector");
  }
  // Inspector v1 starts the authorization twice on a 401 (its transport and its connection hook
  // each call the SDK's `auth`), each with its own PKCE verifier; on a busy machine the browser
  // can land on the first while the second verifier is kept, and the Inspector then reports
  // "grant request is invalid" or "No saved connection". A user clicks Connect again; so does
  // this script, once, saying so.
  const connected = page.getByText("Connected", { exact: true });
  const notes = page.getByRole("region", { name: /Notifications/ });
  for (let attempt = 1; attempt <= 2 && !(await connected.isVisible()); attempt++) {
    if (attempt > 1) log("the Inspector's authorization failed; connecting again, as a user would");
    const before = (await notes.textContent().catch(() => "")).trim();
    await page.getByRole("button", { name: "Connect" }).click();
    const toLogin = page.waitForURL((u) => u.hostname === "auth.localhost", { timeout: 15000, waitUntil: "commit" });
    if (!(await toLogin.then(() => true, () => false))) {
      // Signed in already (the provider's session cookie): the Inspector connects on its own.
      if (await connected.isVisible()) break;
      const now = (await notes.textContent().catch(() => "")).trim();
      log("no login page within 15 s; at", page.url(), "the Inspector says:", now || "nothing");
      continue;
    }
    await signInOnPage(page, home);
    // Back from the login the page finishes the authorization and connects; what it says
    // meanwhile (its notifications) is logged, so a failure shows why.
    let said = "";
    for (let i = 0; i < 300 && !(await connected.isVisible()); i++) {
      const now = (await notes.textContent().catch(() => "")).trim();
      if (now && now !== said) log("the Inspector says:", (said = now));
      if (now !== before && /OAuth Authorization Error/.test(now)) break;
      await page.waitForTimeout(100);
    }
  }
  await connected.waitFor({ timeout: 1000 });
  log("connected; listing tools");

  await page.getByRole("tab", { name: "Tools" }).click();
  await page.getByRole("button", { name: "List Tools" }).click();
  await (await listedTools(page, report)).click();
  const run = await fillQuery(page, "Run Tool");
  log("calling search");
  await run.click();
  await outcome(page, page.getByText(/Tool Result: Success/));
  const panel = await page.getByRole("tabpanel", { name: "Tools" }).innerText();
  report.result = hits(panel.slice(panel.indexOf("Tool Result: Success")));
  // Scroll the hits into view: the result pane scrolls on its own, apart from the page.
  await page
    .getByRole("heading", { name: "Structured Content:", exact: true })
    .evaluate((e) => e.scrollIntoView({ block: "start" }));
}

/** Inspector v2, the current line. */
async function inspectorV2(page, report) {
  const launcher = path.join(here, "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
  const [port, sandbox] = await freePorts(2);
  const token = crypto.randomBytes(16).toString("hex");
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "inspector-home-"));
  const era = mode === "modern" ? "modern" : "legacy";
  start([...preload, launcher, "--web", "--transport", "http", "--server-url", mcpUrl, "--protocol-era", era], {
    CLIENT_PORT: String(port),
    MCP_SANDBOX_PORT: String(sandbox),
    MCP_INSPECTOR_API_TOKEN: token,
    MCP_INSPECTOR_SECRET_STORE: "memory",
    HOME: home,
  });
  const origin = `http://localhost:${port}`;
  await waitFor(`${origin}/`);
  await page.goto(`${origin}/?MCP_INSPECTOR_API_TOKEN=${token}`);
  // The switch is drawn by a track over the input; a click on it lands on the track, as a user's does.
  await page.getByRole("switch", { name: /Connect or disconnect/ }).click({ force: true });
  await signInOnPage(page, origin);
  log("back from the login; waiting for the connection");
  await page.getByText("Connected", { exact: true }).first().waitFor();
  report.revision = (await page.getByText(/^MCP \d{4}-\d{2}-\d{2}$/).first().innerText()).slice(4);
  log("connected with", report.revision, "; listing tools");
  await page.getByRole("banner").getByText("Tools", { exact: true }).click();
  await (await listedTools(page, report)).click();
  const run = await fillQuery(page, "Execute Tool");
  log("calling search");
  await run.click();
  // The result is drawn in Ace editors; read the hits off the one showing `results`.
  const shown = page.locator(".ace_editor").filter({ hasText: '"results"' }).first();
  await outcome(page, shown);
  report.result = hits(await shown.innerText());

}

const browser = await launchChromium(path.join(path.dirname(caFile), "local.crt"));
const report = { mode, browserCallsToMcp: [], tools: [], result: null };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
  page.setDefaultTimeout(30000);
  const mcpOrigin = new URL(mcpUrl).origin;
  page.on("response", async (r) => {
    const req = r.request();
    if (req.url().startsWith(mcpOrigin) && new URL(req.url()).pathname === "/mcp" && req.method() !== "OPTIONS") {
      const headers = await req.allHeaders().catch(() => ({}));
      report.browserCallsToMcp.push({ method: req.method(), status: r.status(), origin: headers["origin"] ?? null });
    }
  });
  // A local call that fails is logged; a navigation's aborted calls and outside names are not.
  page.on("requestfailed", (r) => {
    const { hostname } = new URL(r.url());
    const local = hostname === "localhost" || hostname.endsWith(".localhost");
    const why = r.failure()?.errorText;
    if (local && why !== "net::ERR_ABORTED") log("request failed:", r.method(), r.url().slice(0, 200), why);
  });
  page.on("console", (m) => m.type() === "error" && log("console:", m.text().slice(0, 600)));
  await (mode === "latest" || mode === "modern" ? inspectorV2(page, report) : inspectorV1(page, report));
  await page.screenshot({ path: screenshot });
  log("screenshot:", screenshot);
} catch (e) {
  const pages = browser.contexts().flatMap((c) => c.pages());
  if (pages[0]) await pages[0].screenshot({ path: screenshot.replace(/\.png$/, "-failed.png"), fullPage: true }).catch(() => {});
  log("failed:", e.message, pages[0]?.url());
  if (pages[0]) log(await pages[0].locator("body").ariaSnapshot().catch(() => ""));
  process.exitCode = 1;
} finally {
  await browser.close();
  stop();
}
console.log(JSON.stringify(report));
