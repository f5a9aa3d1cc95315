// Registers a client the way ChatGPT does and signs in with it, against the server's real
// discovery chain: the 401 names the protected-resource metadata, which names the authorization
// server, whose metadata names the registration endpoint. The registration carries both of
// ChatGPT's redirect URIs, `token_endpoint_auth_method: none`, the authorization_code and
// refresh_token grants, the code response type, a client name and a `scope`: the resource's
// `scopes_supported` (SCOPES=resource) or every scope the authorization server advertises
// (SCOPES=server). Then it signs in as USER with PKCE S256 and the `resource` parameter, exchanges
// the code, and calls `search` with the token. Prints what it saw as JSON; exits non-zero if any
// step fails.
//
// Usage: node chatgpt_registration.mjs MCP_URL USER resource|server. Trust the local CA with
// NODE_EXTRA_CA_CERTS.
import crypto from "node:crypto";
import { pkceAuthorization, resolveLocalhostNames, signIn } from "./sign_in.mjs";

resolveLocalhostNames();
const [url, user, which] = process.argv.slice(2);

async function json(response, what) {
  const text = await response.text();
  if (!response.ok) throw new Error(`${what}: ${response.status} ${text}`);
  return JSON.parse(text);
}

const challenge = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
  body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
});
if (challenge.status !== 401) throw new Error(`expected 401 without a token, got ${challenge.status}`);
const metadataUrl = challenge.headers.get("www-authenticate").match(/resource_metadata="([^"]+)"/)[1];
const prm = await json(await fetch(metadataUrl), "protected-resource metadata");
const issuer = new URL(prm.authorization_servers[0]);
const asMetadataUrl = new URL(`/.well-known/oauth-authorization-server${issuer.pathname}`, issuer);
const as = await json(await fetch(asMetadataUrl), "authorization server metadata");

const scope = (which === "server" ? as.scopes_supported : prm.scopes_supported).join(" ");
const callback = `https://chatgpt.com/connector/oauth/${crypto.randomBytes(6).toString("hex")}`;
const registration = await json(
  await fetch(as.registration_endpoint, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "ChatGPT",
      redirect_uris: [callback, "https://chatgpt.com/connector_platform_oauth_redirect"],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      scope,
    }),
  }),
  "registration",
);

const { url: authorization, verifier } = pkceAuthorization(as.authorization_endpoint, {
  clientId: registration.client_id,
  redirectUri: callback,
  scope,
  resource: prm.resource,
});
const code = await signIn(authorization, user, callback);
const token = await json(
  await fetch(as.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: callback,
      client_id: registration.client_id,
      code_verifier: verifier,
      resource: prm.resource,
    }),
  }),
  "token",
);

const search = await fetch(url, {
  method: "POST",
  headers: {
    authorization: `Bearer ${token.access_token}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
  },
  body: JSON.stringify({
    jsonrpc: "2.0",
    id: 2,
    method: "tools/call",
    params: { name: "search", arguments: { query: "chocolate" } },
  }),
});
const answer = await json(search, "search");
console.log(
  JSON.stringify({
    requestedScope: scope,
    advertisedByServer: as.scopes_supported,
    registeredClient: registration.client_id,
    registeredRedirects: registration.redirect_uris,
    searchStatus: search.status,
    results: answer.result?.structuredContent?.results?.length ?? null,
    error: answer.error ?? null,
  }),
);
