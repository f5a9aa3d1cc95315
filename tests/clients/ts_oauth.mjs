// Connects the official TypeScript MCP SDK client to the server knowing only its URL, as ChatGPT
// does: the 401 leads to the protected-resource metadata, that to the authorization server's
// metadata, then dynamic client registration, the authorization code flow with PKCE S256 and the
// `resource` parameter, and the token. The login form is filled in here, as a user would, by
// following the redirects with a cookie jar. Then it lists tools, searches and fetches, and
// prints what it saw as JSON.
//
// Usage: node ts_oauth.mjs MCP_URL USER. Host names under .localhost resolve to this machine;
// trust the local CA with NODE_EXTRA_CA_CERTS. Exits non-zero if anything fails.
import { resolveLocalhostNames, signIn } from "./sign_in.mjs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

resolveLocalhostNames();

const [url, user] = process.argv.slice(2);
const redirectUrl = "http://localhost:7/callback"; // never opened: the code is read from the redirect
const seen = { authorizationUrl: null, registered: null };

const provider = {
  code: null,
  info: undefined,
  saved: undefined,
  verifier: undefined,
  get redirectUrl() {
    return redirectUrl;
  },
  get clientMetadata() {
    return {
      client_name: "MCP SDK test client",
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  },
  clientInformation() {
    return this.info;
  },
  saveClientInformation(info) {
    this.info = info;
    seen.registered = info.client_id;
  },
  tokens() {
    return this.saved;
  },
  saveTokens(tokens) {
    this.saved = tokens;
  },
  saveCodeVerifier(v) {
    this.verifier = v;
  },
  codeVerifier() {
    return this.verifier;
  },
  async redirectToAuthorization(authorizationUrl) {
    seen.authorizationUrl = authorizationUrl.href;
    this.code = await signIn(authorizationUrl, user, redirectUrl);
  },
};

const client = new Client({ name: "ts-oauth-test", version: "1.0.0" });
let transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
try {
  await client.connect(transport);
  throw new Error("the server let an unauthenticated client in");
} catch (e) {
  if (!(e instanceof UnauthorizedError)) throw e;
}
await transport.finishAuth(provider.code);
transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
await client.connect(transport);
const tools = await client.listTools();
const found = await client.callTool({ name: "search", arguments: { query: "chocolate orders" } });
const first = found.structuredContent.results[0].id;
const document = await client.callTool({ name: "fetch", arguments: { id: first } });
const tickets = await client.callTool({ name: "search", arguments: { query: "squashed", limit: 50 } });
const auth = new URL(seen.authorizationUrl);
console.log(
  JSON.stringify({
    tools: tools.tools.map((t) => t.name),
    registeredClient: seen.registered,
    authorization: {
      codeChallengeMethod: auth.searchParams.get("code_challenge_method"),
      resource: auth.searchParams.get("resource"),
      scope: auth.searchParams.get("scope"),
      host: auth.host,
    },
    tokenType: provider.saved?.token_type ?? null,
    firstResult: first,
    fetchedId: document.structuredContent?.id ?? null,
    ticketIds: tickets.structuredContent.results.map((r) => r.id).filter((id) => id.startsWith("ticket-")),
  }),
);
await client.close();
