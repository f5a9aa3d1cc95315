// The user flows of the stack stage (scripts/stack-test), against the stack `docker compose up`
// started from STACK_DIR: everything goes to https://mcp.localhost and https://auth.localhost on
// 127.0.0.1 through Traefik, with the local CA of STACK_DIR/traefik/certs (NODE_EXTRA_CA_CERTS).
// Each flow appends one row ({flow, ok, seconds, detail}) to STACK_ROWS; screenshots go to
// STACK_OUT. Exits non-zero if any flow fails.
import { execFile as execFileCallback, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { launchChromium } from "./chromium.mjs";
import { pkceAuthorization, resolveLocalhostNames } from "./sign_in.mjs";

// Names under .localhost resolve to this machine in browsers; for Node the README has users add
// them to /etc/hosts where their system does not resolve them, which this preload stands in for.
resolveLocalhostNames();
const execFile = promisify(execFileCallback);
const here = path.dirname(fileURLToPath(import.meta.url));
const { STACK_DIR: stack, STACK_OUT: out, STACK_ROWS: rows } = process.env;
const log = (...a) => console.error("[stack]", ...a);

/** The values `scripts/setup` wrote into the stack's .env. */
function dotenv() {
  const values = {};
  for (const line of fs.readFileSync(path.join(stack, ".env"), "utf8").split("\n")) {
    const m = line.match(/^([A-Z_][A-Z0-9_]*)=(.*)$/);
    if (m) values[m[1]] = m[2];
  }
  return values;
}
const env = dotenv();
const MCP = "https://mcp.localhost/mcp";
const REALM = "https://auth.localhost/realms/mcp";
const CA = path.join(stack, "traefik/certs/local-ca.crt");

let failures = 0;
/** Runs one flow and writes its row; a thrown error is the flow's failure and its detail. */
async function flow(name, body) {
  // STACK_ONLY runs only the flows whose names contain it (for working on one flow).
  if (process.env.STACK_ONLY && !name.includes(process.env.STACK_ONLY)) return;
  const started = Date.now();
  let ok = true;
  let detail = "";
  log("flow:", name);
  try {
    detail = (await body()) ?? "";
  } catch (e) {
    ok = false;
    failures++;
    detail = `${e.stack ?? e}${e.cause ? `\ncause: ${e.cause.message ?? e.cause}` : ""}`;
    log("FAILED:", name, detail);
  }
  const row = { flow: name, ok, seconds: (Date.now() - started) / 1000, detail: String(detail) };
  fs.appendFileSync(rows, JSON.stringify(row) + "\n");
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

async function json(response, what) {
  const text = await response.text();
  expect(response.ok, `${what}: HTTP ${response.status} ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

/** `docker compose ARGS...` in the stack's folder; its output, or an error with it. */
async function compose(...args) {
  try {
    const { stdout, stderr } = await execFile("docker", ["compose", ...args], { cwd: stack, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    return { code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(e) };
  }
}

/** Waits until `docker compose ps` shows SERVICE running and healthy. */
async function healthy(service, seconds = 180) {
  for (let i = 0; i < seconds; i++) {
    const { stdout } = await compose("ps", "--format", "json", service);
    const states = stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
    if (states.length && states.every((s) => s.State === "running" && s.Health === "healthy")) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`${service} not healthy within ${seconds} s`);
}

// --- MCP calls -----------------------------------------------------------------------------

/** One JSON-RPC request to /mcp with a token; the response and its parsed body. */
async function call(token, method, params = {}, scheme = "Bearer") {
  const response = await fetch(MCP, {
    method: "POST",
    headers: {
      authorization: `${scheme} ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, headers: response.headers, body };
}

async function search(token, query) {
  const { status, body } = await call(token, "tools/call", { name: "search", arguments: { query, limit: 50 } });
  expect(status === 200 && body.result, `search "${query}": ${status} ${JSON.stringify(body).slice(0, 300)}`);
  return body.result.structuredContent.results.map((r) => r.id);
}

/** What USER sees: support tickets for `support` (alice), invoices for `finance` (bob). */
async function seesOnlyTheirDocuments(token, user) {
  const tickets = (await search(token, "support ticket")).filter((id) => id.startsWith("ticket-"));
  const invoices = (await search(token, "invoice")).filter((id) => id.startsWith("invoice-"));
  const [mine, theirs] = user === "alice" ? [tickets, invoices] : [invoices, tickets];
  expect(mine.length > 0 && theirs.length === 0, `${user} sees tickets ${tickets} and invoices ${invoices}`);
  return mine;
}

async function gateToken(secret = env.MCP_GATE_SECRET, client = "mcp-gate") {
  const token = await json(
    await fetch(`${REALM}/protocol/openid-connect/token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${client}:${secret}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: "client_credentials" }),
    }),
    "client credentials token",
  );
  return token.access_token;
}

// --- Keycloak's admin API, as an operator uses it ---------------------------------------------

/** A call to Keycloak's admin API for realm `mcp`, as its administrator. */
async function admin(method, pathname, body) {
  return keycloakAdmin(method, `/mcp${pathname}`, body);
}

/** A call to Keycloak's admin API under /admin/realms, as the master realm's administrator. */
async function keycloakAdmin(method, pathname, body) {
  const token = await json(
    await fetch("https://auth.localhost/realms/master/protocol/openid-connect/token", {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "password",
        client_id: "admin-cli",
        username: env.KC_ADMIN_USER || "admin",
        password: env.KC_ADMIN_PASSWORD,
      }),
    }),
    "admin token",
  );
  const response = await fetch(`https://auth.localhost/admin/realms${pathname}`, {
    method,
    headers: { authorization: `Bearer ${token.access_token}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// --- Discovery and sign-in as ChatGPT does -----------------------------------------------------

async function discover() {
  const challenge = await fetch(MCP, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
  expect(challenge.status === 401, `no token: expected 401, got ${challenge.status}`);
  const header = challenge.headers.get("www-authenticate");
  const metadataUrl = header.match(/resource_metadata="([^"]+)"/)?.[1];
  expect(metadataUrl, `401 without resource_metadata: ${header}`);
  const prm = await json(await fetch(metadataUrl), "protected-resource metadata");
  const issuer = new URL(prm.authorization_servers[0]);
  const as = await json(
    await fetch(new URL(`/.well-known/oauth-authorization-server${issuer.pathname}`, issuer)),
    "authorization server metadata",
  );
  return { header, prm, as };
}

async function register(as, scope, callbacks) {
  const body = {
    client_name: "ChatGPT",
    redirect_uris: callbacks,
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
  };
  if (scope !== undefined) body.scope = scope;
  const response = await fetch(as.registration_endpoint, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

// Chromium trusts exactly the certificate Traefik serves; outside names never resolve.
const browser = await launchChromium(path.join(stack, "traefik/certs/local.crt"));

/**
 * Signs USER in on Keycloak's real login page in a fresh browser, from AUTHORIZATION until the
 * browser is sent to CALLBACK; returns the callback URL. The first login page is photographed.
 */
let photographed = false;
async function signInInBrowser(authorization, user, callback, { deliver = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(30000);
    let landed = null;
    // The callback is answered here, or with DELIVER loaded from the client listening there.
    if (!deliver) {
      await page.route(`${new URL(callback).origin}/**`, (route) => {
        landed = route.request().url();
        return route.fulfill({ status: 200, contentType: "text/plain", body: "signed in" });
      });
    }
    await page.goto(authorization.href);
    await page.locator("#username").waitFor();
    if (!photographed) {
      await page.screenshot({ path: path.join(out, "keycloak-login.png") });
      photographed = true;
    }
    await page.locator("#username").fill(user);
    await page.locator("#password").fill(env.DEMO_PASSWORD);
    await page.locator("#kc-login").click();
    // A consent page, when the client asks for one, is accepted.
    for (let i = 0; i < 300 && !landed; i++) {
      if (deliver && page.url().startsWith(callback)) {
        await page.waitForLoadState();
        landed = page.url();
        break;
      }
      if (new URL(page.url()).hostname === "auth.localhost") {
        const accept = page.locator('[name="accept"]');
        if (await accept.count()) await accept.first().click();
        const error = page.locator("#input-error, .kc-feedback-text, .pf-v5-c-alert__title");
        if (await error.count()) throw new Error(`Keycloak says: ${(await error.first().innerText()).trim()}`);
      }
      await page.waitForTimeout(100);
    }
    expect(landed, `never sent back to ${callback}; at ${page.url()}`);
    return new URL(landed);
  } finally {
    await context.close();
  }
}

/** A ChatGPT-shaped registration with SCOPE_MODE, then USER's sign-in and every tool. */
async function chatgpt(scopeMode, user) {
  const { prm, as } = await discover();
  const scope = { resource: prm.scopes_supported.join(" "), server: as.scopes_supported.join(" "), none: undefined }[scopeMode];
  const callback = `https://chatgpt.com/connector/oauth/${crypto.randomBytes(6).toString("hex")}`;
  const registered = await register(as, scope, [callback, "https://chatgpt.com/connector_platform_oauth_redirect"]);
  expect(registered.status === 201, `registration: ${registered.status} ${JSON.stringify(registered.body)}`);
  const client = registered.body.client_id;
  // Registered without a scope, ChatGPT has been seen to ask for every scope the authorization
  // server advertises; a client granted only what it registered would get invalid_scope here.
  const asked = scope ?? as.scopes_supported.join(" ");
  const { url: authorization, verifier } = pkceAuthorization(as.authorization_endpoint, {
    clientId: client,
    redirectUri: callback,
    scope: asked,
    resource: prm.resource,
  });
  const back = await signInInBrowser(authorization, user, callback);
  const code = back.searchParams.get("code");
  expect(code, `no code: ${back}`);
  const tokens = await json(
    await fetch(as.token_endpoint, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: callback,
        client_id: client,
        code_verifier: verifier,
        resource: prm.resource,
      }),
    }),
    "code exchange",
  );
  // Role names never arrive as groups (the realm offers no `microprofile-jwt` scope), or the
  // document rules would read a role as a group.
  const claims = JSON.parse(Buffer.from(tokens.access_token.split(".")[1], "base64url"));
  const roles = claims.realm_access?.roles ?? [];
  expect(roles.includes(user === "alice" ? "support" : "finance"), `realm roles: ${roles}`);
  expect(!(claims.groups ?? []).some((g) => roles.includes(g)), `roles in groups: ${claims.groups}`);
  expect(claims.aud === prm.resource || claims.aud?.includes?.(prm.resource), `aud: ${claims.aud}`);
  const listed = await call(tokens.access_token, "tools/list");
  const names = listed.body?.result?.tools?.map((t) => t.name) ?? [];
  expect(names.includes("search") && names.includes("fetch"), `tools/list: ${listed.status} ${JSON.stringify(listed.body).slice(0, 300)}`);
  const mine = await seesOnlyTheirDocuments(tokens.access_token, user);
  const fetched = await call(tokens.access_token, "tools/call", { name: "fetch", arguments: { id: mine[0] } });
  expect(fetched.status === 200 && fetched.body.result && !fetched.body.result.isError, `fetch ${mine[0]}: ${JSON.stringify(fetched.body).slice(0, 300)}`);
  expect(tokens.refresh_token, "no refresh token");
  const refreshed = await json(
    await fetch(as.token_endpoint, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client }),
    }),
    "refresh",
  );
  expect(refreshed.access_token !== tokens.access_token, "the refresh gave the same token");
  await seesOnlyTheirDocuments(refreshed.access_token, user);
  return `scope asked: ${asked}; ${user} sees ${mine.join(" ")}`;
}

// --- The flows ----------------------------------------------------------------------------------

await flow("ports: 80 and 443 published on 127.0.0.1 only; movable in .env", async () => {
  const { stdout } = await compose("port", "traefik", "443");
  expect(stdout.trim() === "127.0.0.1:443", `traefik 443 is published on ${stdout.trim()}`);
  const moved = await execFile("docker", ["compose", "config", "--format", "json"], {
    cwd: stack,
    env: { ...process.env, HTTPS_PORT: "8443", HTTP_PORT: "8080" },
  });
  const ports = JSON.parse(moved.stdout).services.traefik.ports.map((p) => `${p.host_ip}:${p.published}`);
  expect(ports.includes("127.0.0.1:8443") && ports.includes("127.0.0.1:8080"), `moved: ${ports}`);
  // Keycloak's public URL follows a moved HTTPS port, and has none by default.
  const hostname = JSON.parse(moved.stdout).services.keycloak.environment.KC_HOSTNAME;
  expect(hostname === "https://auth.localhost:8443", `KC_HOSTNAME with HTTPS_PORT=8443: ${hostname}`);
  const current = JSON.parse((await compose("config", "--format", "json")).stdout).services.keycloak.environment.KC_HOSTNAME;
  expect(current === "https://auth.localhost", `KC_HOSTNAME by default: ${current}`);
});

await flow("a port already taken stops `up` with a message naming it", async () => {
  const net = await import("node:net");
  const holder = net.createServer();
  await new Promise((resolve) => holder.listen(0, "127.0.0.1", resolve));
  const port = holder.address().port;
  try {
    const taken = await execFile("docker", ["compose", "up", "-d", "traefik"], {
      cwd: stack,
      env: { ...process.env, HTTP_PORT: String(port) },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (e) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(taken.code !== 0 && taken.stderr.includes(`127.0.0.1:${port}`) && /already|in use/.test(taken.stderr), `up with a taken port: exit ${taken.code} ${taken.stderr.slice(-400)}`);
    return taken.stderr.trim().split("\n").pop().slice(0, 200);
  } finally {
    holder.close();
    const back = await compose("up", "-d", "traefik");
    expect(back.code === 0, `traefik back on its ports: ${back.stderr}`);
    await healthy("traefik");
  }
});

await flow("metrics: not on the public host, on a port of their own inside the stack", async () => {
  const outside = await fetch("https://mcp.localhost/metrics");
  const text = await outside.text();
  expect(outside.status === 404 && !text.includes("mcp_"), `https://mcp.localhost/metrics: ${outside.status}`);
  const inside = await compose("exec", "-T", "mcp", "mcp-resource-server", "healthcheck", "--url", "http://127.0.0.1:9100/metrics");
  expect(inside.code === 0, `the metrics port inside: ${inside.stderr}`);
  const main = await compose("exec", "-T", "mcp", "mcp-resource-server", "healthcheck", "--url", "http://127.0.0.1:8000/metrics");
  expect(main.code === 1, `the main port still serves /metrics: ${main.code} ${main.stderr}`);
});

await flow("README's minute with curl: 401 challenge, metadata, gate token, search", async () => {
  const { header, prm, as } = await discover();
  expect(header.includes('scope="mcp:tools"'), header);
  expect(prm.resource === MCP && as.issuer === REALM, `${prm.resource} ${as.issuer}`);
  const token = await gateToken();
  const answer = await call(token, "tools/call", { name: "search", arguments: { query: "chocolate orders" } });
  expect(answer.status === 200 && answer.body.result, `search: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
});

await flow("ChatGPT: registered with the metadata's scopes, alice signs in (Chromium), tools, refresh", () => chatgpt("resource", "alice"));
await flow("ChatGPT: registered with every scope Keycloak advertises, bob signs in, tools, refresh", () => chatgpt("server", "bob"));
await flow("ChatGPT: registered with no scope, asks for every advertised one, alice signs in, tools, refresh", () => chatgpt("none", "alice"));

await flow("an authorization request without PKCE S256 is refused", async () => {
  const { prm, as } = await discover();
  const callback = "https://chatgpt.com/connector_platform_oauth_redirect";
  const registered = await register(as, prm.scopes_supported.join(" "), [callback]);
  expect(registered.status === 201, `registration: ${registered.status}`);
  const authorization = new URL(as.authorization_endpoint);
  authorization.search = new URLSearchParams({
    response_type: "code",
    client_id: registered.body.client_id,
    redirect_uri: callback,
    scope: prm.scopes_supported.join(" "),
    state: "s",
  });
  const answer = await fetch(authorization, { redirect: "manual" });
  const location = answer.headers.get("location") ?? "";
  const body = await answer.text();
  expect(!body.includes("kc-form-login"), "a login form was offered without PKCE");
  expect((answer.status === 302 && location.includes("error=invalid_request")) || answer.status === 400, `${answer.status} ${location}`);
});

await flow("a registration with a callback outside the allowed hosts is refused", async () => {
  const { as } = await discover();
  const registered = await register(as, "mcp:tools", ["https://attacker.example/callback"]);
  expect(registered.status === 403, `${registered.status} ${JSON.stringify(registered.body)}`);
});

await flow("a realm administrator of mcp signs in with the realm's admin-cli and manages the realm", async () => {
  // admin-cli and security-admin-console carry the realm-management roles (full scope), as in
  // Keycloak's own realms; without it a realm administrator gets 403 everywhere.
  const username = `realm-admin-${crypto.randomBytes(4).toString("hex")}`;
  const password = crypto.randomBytes(18).toString("base64url");
  const created = await admin("POST", "/users", {
    username, enabled: true, email: `${username}@example.com`, emailVerified: true,
    firstName: "Realm", lastName: "Admin",
    credentials: [{ type: "password", value: password, temporary: false }],
  });
  expect(created.status === 201, `creating the user: ${created.status} ${JSON.stringify(created.body)}`);
  const [user] = (await admin("GET", `/users?exact=true&username=${username}`)).body;
  try {
    const [management] = (await admin("GET", "/clients?clientId=realm-management")).body;
    const role = (await admin("GET", `/clients/${management.id}/roles/realm-admin`)).body;
    const granted = await admin("POST", `/users/${user.id}/role-mappings/clients/${management.id}`, [role]);
    expect(granted.status === 204, `granting realm-admin: ${granted.status}`);
    const token = await json(
      await fetch(`${REALM}/protocol/openid-connect/token`, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "password", client_id: "admin-cli", username, password }),
      }),
      "the realm administrator's token",
    );
    const clients = await fetch("https://auth.localhost/admin/realms/mcp/clients", {
      headers: { authorization: `Bearer ${token.access_token}` },
    });
    expect(clients.status === 200, `the realm's clients as its administrator: ${clients.status}`);
  } finally {
    await admin("DELETE", `/users/${user.id}`);
  }
});

/** `check` in the mcp container as docs/validation.md says; the exit code and the report. */
async function check(...args) {
  const result = await compose("exec", "-T", "mcp", "mcp-resource-server", "check", "--format", "json", ...args);
  let report = null;
  try {
    report = JSON.parse(result.stdout);
  } catch {
    // no report: the output says why
  }
  const failed = (report?.checks ?? []).filter((c) => c.status === "FAIL").map((c) => `${c.gate} ${c.check}: ${c.actual}`);
  return { code: result.code, report, failed, output: result.stdout + result.stderr };
}

await flow("check inside the stack passes every gate (docs/validation.md)", async () => {
  const result = await check("--client-id", "mcp-gate", "--url", MCP);
  expect(result.code === 0, `exit ${result.code}: ${result.failed.join("; ") || result.output.slice(0, 800)}`);
  const gates = new Set(result.report.checks.filter((c) => c.status === "PASS").map((c) => c.gate));
  expect(["A", "B", "C", "D"].every((g) => gates.has(g)), `gates passed: ${[...gates]}`);
});

await flow("check fails gate B with the server's reason when the audience mapper is removed", async () => {
  const scopes = await admin("GET", "/client-scopes");
  const scope = scopes.body.find((s) => s.name === "mcp:tools");
  const mapper = scope.protocolMappers.find((m) => m.protocolMapper === "oidc-audience-mapper");
  const removed = await admin("DELETE", `/client-scopes/${scope.id}/protocol-mappers/models/${mapper.id}`);
  expect(removed.status === 204, `removing the mapper: ${removed.status}`);
  try {
    const result = await check("--client-id", "mcp-gate", "--url", MCP);
    expect(result.code === 1, `exit ${result.code}: ${result.output.slice(0, 500)}`);
    // Gate B names the rule; through --url the server itself refuses the same token (gate D)
    // saying the audience is wrong.
    const [first, ...rest] = result.failed;
    expect(first?.startsWith("B aud contains MCP_AUDIENCE") && rest.every((f) => f.includes("audience does not include")), `failed: ${result.failed}`);
    return result.failed[0];
  } finally {
    const { id: _, ...model } = mapper;
    const restored = await admin("POST", `/client-scopes/${scope.id}/protocol-mappers/models`, model);
    expect(restored.status === 201, `restoring the mapper: ${restored.status}`);
  }
});

await flow("check --dpop passes with a DPoP-bound token issued by Keycloak", async () => {
  const result = await compose(
    "exec", "-T", "-e", `MCP_CHECK_CLIENT_SECRET=${env.MCP_DPOP_DEMO_SECRET}`, "mcp",
    "mcp-resource-server", "check", "--format", "json", "--dpop", "--client-id", "mcp-dpop-demo", "--url", MCP,
  );
  expect(result.code === 0, `exit ${result.code}: ${(result.stdout + result.stderr).slice(0, 800)}`);
});

await flow("docker compose restart keycloak under steady traffic: no valid request fails, /readyz ready", async () => {
  const token = await gateToken();
  let stop = false;
  const failed = [];
  let sent = 0;
  const traffic = (async () => {
    while (!stop) {
      const [answer, ready] = await Promise.all([
        call(token, "tools/call", { name: "search", arguments: { query: "chocolate" } }),
        fetch("https://mcp.localhost/readyz"),
      ]);
      sent++;
      if (answer.status !== 200) failed.push(`search ${answer.status}`);
      if (ready.status !== 200) failed.push(`readyz ${ready.status} ${await ready.text()}`);
      // Five calls a second: inside one caller's allowance (MCP_RATE_LIMIT_PER_MIN, 600).
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  await new Promise((r) => setTimeout(r, 1000));
  const restarted = await compose("restart", "keycloak");
  expect(restarted.code === 0, `restart: ${restarted.stderr}`);
  await healthy("keycloak");
  await new Promise((r) => setTimeout(r, 2000));
  stop = true;
  await traffic;
  expect(sent > 20 && failed.length === 0, `${failed.length} of ${sent} failed: ${failed.slice(0, 5)}`);
  return `${sent} rounds`;
});

await flow("a key rotated in Keycloak is taken at once; the deleted key's tokens are refused", async () => {
  const old = await gateToken();
  const realm = await admin("GET", "");
  const providers = await admin("GET", "/components?type=org.keycloak.keys.KeyProvider");
  const first = providers.body.filter((p) => p.providerId === "rsa-generated").map((p) => p.id);
  expect(first.length === 1, `rsa-generated providers: ${first}`);
  const created = await admin("POST", "/components", {
    name: "rsa-rotated",
    providerId: "rsa-generated",
    providerType: "org.keycloak.keys.KeyProvider",
    parentId: realm.body.id,
    config: { priority: ["200"], keySize: ["2048"], algorithm: ["RS256"] },
  });
  expect(created.status === 201, `new key provider: ${created.status}`);
  const kid = (t) => JSON.parse(Buffer.from(t.split(".")[0], "base64url")).kid;
  const fresh = await gateToken();
  expect(kid(fresh) !== kid(old), "the new key does not sign new tokens");
  expect((await call(fresh, "tools/list")).status === 200, "the new key's first token was refused");
  expect((await call(old, "tools/list")).status === 200, "the old key's token was refused while published");
  const deleted = await admin("DELETE", `/components/${first[0]}`);
  expect(deleted.status === 204, `deleting the old key: ${deleted.status}`);
  // The server refreshes its keys at least every MCP_JWKS_MIN_REFRESH_SECS (60 s by default).
  for (let i = 0; i < 90; i++) {
    if ((await call(old, "tools/list")).status === 401) {
      expect((await call(fresh, "tools/list")).status === 200, "the new key's token was refused");
      return `refused after ${i} s`;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error("a token of the deleted key is still accepted after 90 s");
});

/**
 * Runs BODY with LINES added to the stack's .env and the server recreated with them (BODY waits
 * for it as it needs); then puts .env back, recreates the server and waits until it is healthy.
 */
async function withDotenv(lines, body) {
  const file = path.join(stack, ".env");
  const before = fs.readFileSync(file, "utf8");
  const recreate = async () => {
    const up = await compose("up", "-d", "mcp");
    expect(up.code === 0, `up -d mcp: ${up.stderr}`);
  };
  fs.writeFileSync(file, before + lines.map((line) => `${line}\n`).join(""));
  try {
    await recreate();
    return await body();
  } finally {
    fs.writeFileSync(file, before);
    await recreate();
    await healthy("mcp");
  }
}

await flow("settings in .env reach the server (MCP_DPOP_REQUIRED, MCP_TOOLS_FETCH_SCOPES)", async () => {
  await withDotenv(["MCP_DPOP_REQUIRED=true", "MCP_TOOLS_FETCH_SCOPES=mcp:fetch-extra"], async () => {
    await healthy("mcp");
    const refused = await call(await gateToken(), "tools/list");
    const challenge = refused.headers.get("www-authenticate") ?? "";
    expect(refused.status === 401 && /DPoP/.test(challenge), `a Bearer token: ${refused.status} ${challenge}`);
    const prm = await json(await fetch("https://mcp.localhost/.well-known/oauth-protected-resource/mcp"), "metadata");
    expect(prm.dpop_bound_access_tokens_required === true, `metadata: ${JSON.stringify(prm)}`);
    expect(prm.scopes_supported.includes("mcp:fetch-extra"), `scopes_supported: ${prm.scopes_supported}`);
  });
  const accepted = await call(await gateToken(), "tools/list");
  expect(accepted.status === 200, `after restoring .env: ${accepted.status}`);
});

await flow("a misspelt setting in .env stops the server, naming the setting it meant", async () => {
  return await withDotenv(["MCP_DPOP_REQUIRE=true"], async () => {
    for (let i = 0; i < 30; i++) {
      const { stdout, stderr } = await compose("logs", "--no-log-prefix", "mcp");
      const said = (stdout + stderr).split("\n").find((l) => l.includes("MCP_DPOP_REQUIRE:"));
      if (said) {
        expect(said.includes("did you mean MCP_DPOP_REQUIRED?"), said);
        return said.trim().slice(0, 160);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error("the server started with a misspelt setting, or said nothing of it");
  });
});

// --- An existing realm, prepared by scripts/realm-setup (docs/keycloak.md) ------------------------

/** `scripts/realm-setup ARGS...` from the checkout, as an operator runs it; exit code and output. */
async function realmSetup(...args) {
  const script = path.join(stack, "scripts/realm-setup");
  try {
    const { stdout, stderr } = await execFile("python3", [script, "--keycloak", "https://auth.localhost", "--ca-file", CA, ...args], {
      env: { ...process.env, KEYCLOAK_ADMIN_USER: env.KC_ADMIN_USER || "admin", KEYCLOAK_ADMIN_PASSWORD: env.KC_ADMIN_PASSWORD },
    });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    return { code: e.code ?? 1, output: (e.stdout ?? "") + (e.stderr ?? String(e)) };
  }
}

/** A realm as an operator's might be: Keycloak's defaults, their roles and users, nothing of ours. */
async function plainRealm(realm, { users = true } = {}) {
  await keycloakAdmin("DELETE", `/${realm}`);
  const made = await keycloakAdmin("POST", "", { realm, enabled: true });
  expect(made.status === 201, `creating realm ${realm}: ${made.status} ${JSON.stringify(made.body)}`);
  if (!users) return;
  for (const [user, role] of [["alice", "support"], ["bob", "finance"]]) {
    expect((await keycloakAdmin("POST", `/${realm}/roles`, { name: role })).status === 201, `role ${role}`);
    const created = await keycloakAdmin("POST", `/${realm}/users`, {
      username: user,
      enabled: true,
      email: `${user}@example.com`,
      emailVerified: true,
      firstName: user,
      lastName: "Example",
      credentials: [{ type: "password", value: env.DEMO_PASSWORD, temporary: false }],
    });
    expect(created.status === 201, `user ${user}: ${created.status} ${JSON.stringify(created.body)}`);
    const [{ id }] = (await keycloakAdmin("GET", `/${realm}/users?exact=true&username=${user}`)).body;
    const roleRep = (await keycloakAdmin("GET", `/${realm}/roles/${role}`)).body;
    expect((await keycloakAdmin("POST", `/${realm}/users/${id}/role-mappings/realm`, [roleRep])).status === 204, `${user}'s role`);
  }
}

/** Runs BODY with the stack's server trusting REALM instead of `mcp` (KC_REALM and KC_ISSUER in .env). */
async function serverOnRealm(realm, body) {
  return await withDotenv([`KC_REALM=${realm}`, `KC_ISSUER=https://auth.localhost/realms/${realm}`], async () => {
    await healthy("mcp");
    return await body();
  });
}

await flow("an existing realm: scripts/realm-setup adds what the server needs; ChatGPT registers, signs in, and is served; a second run changes nothing", async () => {
  const realm = "existing";
  await plainRealm(realm);
  const secretFile = path.join(out, "existing-gate.secret");
  fs.rmSync(secretFile, { force: true });
  const args = ["--realm", realm, "--resource", MCP, "--role", "support", "--role", "finance", "--gate-client", "mcp-gate", "--gate-secret-file", secretFile];
  try {
    const first = await realmSetup(...args);
    log(first.output);
    expect(first.code === 0 && /Done: \d+ change/.test(first.output), `first run: exit ${first.code}\n${first.output}`);
    const second = await realmSetup(...args);
    expect(second.code === 0 && second.output.includes("Nothing to change"), `second run: exit ${second.code}\n${second.output}`);
    expect(!/^ {2}(create|add|map|change|hide|write) /m.test(second.output), `second run planned changes:\n${second.output}`);
    const secret = fs.readFileSync(secretFile, "utf8").trim();
    expect((fs.statSync(secretFile).mode & 0o077) === 0, "the secret file is readable by others");
    return await serverOnRealm(realm, async () => {
      // Every advertised scope (the hardest registration), then none, as ChatGPT has done.
      const bob = await chatgpt("server", "bob");
      const alice = await chatgpt("none", "alice");
      const result = await compose(
        "exec", "-T", "-e", `MCP_CHECK_CLIENT_SECRET=${secret}`, "mcp",
        "mcp-resource-server", "check", "--format", "json", "--client-id", "mcp-gate", "--url", MCP,
      );
      expect(result.code === 0, `check on realm ${realm}: exit ${result.code}: ${(result.stdout + result.stderr).slice(0, 800)}`);
      return `${bob.slice(0, 120)}; ${alice.slice(0, 120)}; check passes`;
    });
  } finally {
    await keycloakAdmin("DELETE", `/${realm}`);
  }
});

await flow("scripts/realm-setup reports a conflicting mcp:tools scope and changes nothing", async () => {
  const realm = "conflicting";
  await plainRealm(realm, { users: false });
  try {
    // A scope of that name kept out of the token's `scope`, with an audience mapper of our name
    // naming another audience.
    const made = await keycloakAdmin("POST", `/${realm}/client-scopes`, {
      name: "mcp:tools",
      protocol: "openid-connect",
      attributes: { "include.in.token.scope": "false" },
      protocolMappers: [{
        name: "mcp audience",
        protocol: "openid-connect",
        protocolMapper: "oidc-audience-mapper",
        config: { "included.custom.audience": "https://other.example/mcp", "access.token.claim": "true" },
      }],
    });
    expect(made.status === 201, `creating the scope: ${made.status}`);
    const snapshot = async () => ({
      scopes: (await keycloakAdmin("GET", `/${realm}/client-scopes`)).body,
      defaults: (await keycloakAdmin("GET", `/${realm}/default-default-client-scopes`)).body,
      policies: (await keycloakAdmin("GET", `/${realm}/client-policies/policies`)).body,
      components: (await keycloakAdmin("GET", `/${realm}/components`)).body,
    });
    const before = await snapshot();
    const run = await realmSetup("--realm", realm, "--resource", MCP);
    expect(run.code === 1, `exit ${run.code} (expected 1):\n${run.output}`);
    const conflicts = run.output.split("\n").filter((l) => l.includes("CONFLICT"));
    expect(conflicts.some((l) => l.includes("Include in token scope")), `no conflict about the token scope:\n${run.output}`);
    expect(conflicts.some((l) => l.includes("'mcp audience'")), `no conflict about the audience mapper:\n${run.output}`);
    expect(run.output.includes("nothing was changed"), run.output);
    const after = await snapshot();
    expect(JSON.stringify(after) === JSON.stringify(before), "the realm changed");
    return conflicts.map((l) => l.trim().slice(0, 100)).join(" | ");
  } finally {
    await keycloakAdmin("DELETE", `/${realm}`);
  }
});

await flow("the MCP Inspector (npx @modelcontextprotocol/inspector) signs bob in and searches", async () => {
  const shot = path.join(out, "inspector-search.png");
  const child = spawn(process.execPath, [path.join(here, "inspector_browser.mjs"), MCP, CA, "latest", "bob", shot], {
    env: { ...process.env, SIGN_IN_PASSWORD: env.DEMO_PASSWORD },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let said = "";
  child.stdout.on("data", (d) => (stdout += d));
  // The run's log goes to the stage's log as it comes; its `failed:` line is also the row's reason.
  child.stderr.on("data", (d) => {
    process.stderr.write(d);
    said += d;
  });
  const code = await new Promise((resolve) => child.on("exit", resolve));
  const report = JSON.parse(stdout.trim().split("\n").pop() || "{}");
  const why = said.split("\n").find((l) => l.includes("] failed:")) ?? "";
  expect(code === 0, `the Inspector run failed: ${why.trim()} ${stdout.slice(-300)}`);
  expect(report.tools?.length === 2 && report.result?.ids?.length > 0, JSON.stringify(report));
  expect(fs.existsSync(shot), "no screenshot");
  return JSON.stringify(report.result.ids);
});

await flow("the MCP conformance suite's authorization scenarios pass against Keycloak and the realm", async () => {
  // The client a user's MCP client gets: registered dynamically, public, PKCE, on a loopback
  // callback (the suite listens on http://127.0.0.1:PORT/callback).
  const port = 39000 + Math.floor(Math.random() * 1000);
  const { prm, as } = await discover();
  const callback = `http://127.0.0.1:${port}/callback`;
  const registered = await register(as, prm.scopes_supported.join(" "), [callback]);
  expect(registered.status === 201, `registration: ${registered.status} ${JSON.stringify(registered.body)}`);
  const results = path.join(out, "conformance-authorization");
  fs.rmSync(results, { recursive: true, force: true });
  const suite = spawn(
    process.execPath,
    [
      "--import", path.join(here, "localhost_names.mjs"),
      path.join(here, "node_modules/@modelcontextprotocol/conformance/dist/index.js"),
      "authorization", "--url", REALM, "--client-id", registered.body.client_id,
      "--resource", prm.resource, "--port", String(port), "--output-dir", results,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let output = "";
  let signedIn = null;
  suite.stdout.on("data", (chunk) => {
    output += chunk;
    const url = output.match(/^(https:\/\/auth\.localhost\/\S+)$/m)?.[1];
    if (url && !signedIn) {
      // A failed sign-in stops the suite's wait at once rather than after its five minutes.
      signedIn = signInInBrowser(new URL(url), "alice", callback, { deliver: true }).catch((e) => {
        suite.kill();
        throw e;
      });
      signedIn.catch(() => {});
    }
  });
  const code = await new Promise((resolve) => suite.on("exit", resolve));
  if (signedIn) await signedIn;
  const verdicts = [...output.matchAll(/^\s*[✓✗].*$/gm)].map((m) => m[0].trim());
  expect(code === 0 && signedIn, `exit ${code}, signed in: ${!!signedIn}\n${output.slice(-1500)}`);
  return verdicts.join("; ") || output.trim().split("\n").slice(-3).join(" ");
});

await browser.close();
process.exit(failures ? 1 : 0);
