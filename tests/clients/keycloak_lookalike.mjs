// A real OpenID Provider (npm oidc-provider, OpenID Certified) set up to look like the Keycloak
// realm of keycloak/realm-mcp.json, for tests that cannot run Keycloak itself:
// - mounted under /realms/mcp, with Keycloak's endpoint paths (protocol/openid-connect/...);
// - OpenID discovery at the realm path and RFC 8414 metadata at /.well-known/oauth-authorization-server/realms/mcp;
// - RS256 JWT access tokens for the MCP resource (RFC 8707 resource indicators) carrying Keycloak's
//   claims: typ "Bearer", azp, scope with mcp:tools, realm_access.roles, groups, preferred_username;
// - the confidential client mcp-gate (client credentials) and the file's confidential clients whose
//   tokens are DPoP-bound (`dpop.bound.access.tokens`, e.g. mcp-dpop-demo, secret DPOP_DEMO_SECRET):
//   their token requests must carry a DPoP proof, and their tokens carry cnf.jkt (RFC 9449);
// - dynamic registration, and
//   authorization code with PKCE S256 required, with a login form (any password) for alice and bob;
// - read from the realm file (REALM_FILE), as Keycloak 26.8 does with it: `scopes_supported` lists
//   every openid-connect client scope not marked `include.in.openid.provider.metadata: false`, plus
//   `openid` (OIDCWellKnownProvider), and an anonymous registration asking for a scope outside the
//   Allowed Client Scopes policy's list, the realm default scopes and the realm optional scopes
//   gets 403 (ClientScopesClientRegistrationPolicy). The file's public login clients (chatgpt,
//   mcp-inspector) exist with their redirect URIs, and the token endpoint answers CORS for the
//   origins a client's webOrigins lists ("+": its redirect URIs' origins), as Keycloak does.
// It trusts X-Forwarded-* (it runs behind Traefik), so its URLs use the public https names.
//
// Environment: PORT, ISSUER (public, e.g. https://auth.localhost:8443/realms/mcp), RESOURCE (the MCP
// URL, e.g. https://mcp.localhost:8443/mcp), GATE_SECRET, REALM_FILE. Prints "ready" when it listens.

import fs from "node:fs";
import http from "node:http";
import Provider, { errors } from "oidc-provider";
import { generateKeyPair, exportJWK } from "jose";

const port = Number(process.env.PORT);
const issuer = process.env.ISSUER;
const resource = process.env.RESOURCE;
const gateSecret = process.env.GATE_SECRET ?? "gate-secret";
const dpopSecret = process.env.DPOP_DEMO_SECRET ?? "dpop-demo-secret";
if (!port || !issuer || !resource || !process.env.REALM_FILE) {
  console.error("keycloak_lookalike: set PORT, ISSUER, RESOURCE and REALM_FILE");
  process.exit(2);
}

const realm = JSON.parse(fs.readFileSync(process.env.REALM_FILE, "utf8"));
const advertised = [
  "openid",
  ...realm.clientScopes
    .filter((s) => s.protocol === "openid-connect" && s.attributes?.["include.in.openid.provider.metadata"] !== "false")
    .map((s) => s.name),
];
const registrationPolicy = realm.components["org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"].find(
  (p) => p.providerId === "allowed-client-templates" && p.subType === "anonymous",
);
const registrable = new Set(registrationPolicy.config["allowed-client-scopes"] ?? []);
if (registrationPolicy.config["allow-default-scopes"]?.[0] !== "false") {
  for (const s of [...realm.defaultDefaultClientScopes, ...realm.defaultOptionalClientScopes]) registrable.add(s);
}

const users = {
  alice: { roles: ["default-roles-mcp", "offline_access", "support"], groups: ["/staff"] },
  bob: { roles: ["default-roles-mcp", "offline_access", "finance"], groups: ["/staff/kitchen"] },
};

// The realm file's own public clients that log users in (not Keycloak's built-in ones).
const builtIn = new Set(["account", "account-console", "admin-cli", "security-admin-console"]);
const realmClients = realm.clients.filter((c) => c.publicClient && c.standardFlowEnabled && !builtIn.has(c.clientId));
const webOrigins = new Map(
  realmClients.map((c) => [
    c.clientId,
    c.webOrigins.flatMap((o) => (o === "+" ? c.redirectUris.map((u) => new URL(u).origin) : [o])),
  ]),
);

// The file's confidential service-account clients that require DPoP-bound tokens.
const dpopClients = realm.clients.filter(
  (c) => c.serviceAccountsEnabled && c.attributes?.["dpop.bound.access.tokens"] === "true",
);

const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const signing = { ...(await exportJWK(privateKey)), kid: "lookalike-rs256", use: "sig", alg: "RS256" };

const provider = new Provider(issuer, {
  jwks: { keys: [signing] },
  clients: [
    {
      client_id: "mcp-gate",
      client_secret: gateSecret,
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      scope: "mcp:tools",
    },
    ...dpopClients.map((c) => ({
      client_id: c.clientId,
      client_secret: dpopSecret,
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      scope: "mcp:tools",
      dpop_bound_access_tokens: true,
    })),
    ...realmClients.map((c) => ({
      client_id: c.clientId,
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: c.redirectUris,
      scope: advertised.join(" "),
    })),
  ],
  clientBasedCORS(_ctx, origin, client) {
    const listed = webOrigins.get(client.clientId);
    if (listed) return listed.includes(origin);
    return client.clientAuthMethod === "none" && client.redirectUris.some((u) => new URL(u).origin === origin);
  },
  scopes: advertised,
  routes: {
    authorization: "/protocol/openid-connect/auth",
    token: "/protocol/openid-connect/token",
    userinfo: "/protocol/openid-connect/userinfo",
    jwks: "/protocol/openid-connect/certs",
    registration: "/clients-registrations/openid-connect",
    end_session: "/protocol/openid-connect/logout",
    revocation: "/protocol/openid-connect/revoke",
    introspection: "/protocol/openid-connect/token/introspect",
  },
  pkce: { required: () => true },
  ttl: { ClientCredentials: 300, AccessToken: 300 },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== resource) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        return {
          scope: "mcp:tools",
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
  async findAccount(_ctx, id) {
    if (!users[id]) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, preferred_username: id }) };
  },
  async extraTokenClaims(_ctx, token) {
    const user = users[token.accountId];
    return {
      typ: "Bearer",
      azp: token.clientId,
      realm_access: { roles: user ? user.roles : ["default-roles-mcp"] },
      ...(user ? { groups: user.groups, preferred_username: token.accountId } : {}),
    };
  },
  // Grant what was asked for, as Keycloak does for default scopes, so no consent page appears.
  async loadExistingGrant(ctx) {
    const accountId = ctx.oidc.session?.accountId;
    if (!accountId) return undefined; // not signed in yet: the login prompt comes first
    const grantId = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    const existing = grantId && (await ctx.oidc.provider.Grant.find(grantId));
    if (existing) return existing;
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId });
    grant.addOIDCScope("openid offline_access profile email");
    grant.addResourceScope(resource, "mcp:tools");
    await grant.save();
    return grant;
  },
});
provider.proxy = true;

const prefix = new URL(issuer).pathname.replace(/\/$/, "");
const callback = provider.callback();
const registration = `${prefix}/clients-registrations/openid-connect`;

/** Keycloak's anonymous Allowed Client Scopes policy; the body is handed on already read. */
async function admitRegistration(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    res.writeHead(400, { "content-type": "application/json" }).end('{"error":"invalid_client_metadata"}');
    return false;
  }
  const refused = String(body.scope ?? "").split(" ").filter((s) => s && !registrable.has(s));
  if (refused.length) {
    console.error(`registration refused: scopes ${refused.join(", ")} are not allowed`);
    res.writeHead(403, { "content-type": "application/json" }).end(
      JSON.stringify({
        error: "insufficient_scope",
        error_description:
          "Policy 'Allowed Client Scopes' rejected request to client-registration service. Details: Not permitted to use specified clientScope",
      }),
    );
    return false;
  }
  req.body = body;
  return true;
}

http
  .createServer(async (req, res) => {
    if (req.method === "POST" && req.url === registration && !(await admitRegistration(req, res))) return;
    // RFC 8414 metadata lives at the host root with the realm path appended, as in Keycloak.
    if (req.url === `/.well-known/oauth-authorization-server${prefix}`) {
      req.url = `${prefix}/.well-known/openid-configuration`;
    }
    if (req.url === prefix || req.url.startsWith(`${prefix}/`) || req.url.startsWith(`${prefix}?`)) {
      req.originalUrl = req.url;
      req.url = req.url.slice(prefix.length) || "/";
      return callback(req, res);
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  })
  .listen(port, "127.0.0.1", () => console.log("ready"));
