// A DPoP client (RFC 9449), written for the edge test: it makes its own ES256 key, gets a
// DPoP-bound token from the token endpoint with client credentials and a proof, then calls the
// MCP server through Traefik with a fresh proof for each request (initialize, tools/list,
// tools/call search). Then it tries what a thief could: the same token with a proof of another
// key, the token as a Bearer token, and the last proof sent again. Prints a JSON report last.
//
//   node dpop_client.mjs <token-url> <mcp-url> <client-id> <client-secret>

import { generateKeyPair, exportJWK, SignJWT, calculateJwkThumbprint } from "jose";
import { createHash, randomUUID } from "node:crypto";
import { resolveLocalhostNames } from "./sign_in.mjs";

resolveLocalhostNames();

const [tokenUrl, mcpUrl, clientId, clientSecret] = process.argv.slice(2);
if (!clientSecret) {
  console.error("usage: dpop_client.mjs <token-url> <mcp-url> <client-id> <client-secret>");
  process.exit(2);
}

async function makeKey() {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  return { privateKey, jwk: await exportJWK(publicKey) };
}

async function proof(key, method, url, token) {
  const claims = { jti: randomUUID(), htm: method, htu: url, iat: Math.floor(Date.now() / 1000) };
  if (token) claims.ath = createHash("sha256").update(token).digest("base64url");
  return new SignJWT(claims).setProtectedHeader({ typ: "dpop+jwt", alg: "ES256", jwk: key.jwk }).sign(key.privateKey);
}

const key = await makeKey();
const tokenResponse = await fetch(tokenUrl, {
  method: "POST",
  headers: {
    authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
    "content-type": "application/x-www-form-urlencoded",
    dpop: await proof(key, "POST", tokenUrl),
  },
  body: new URLSearchParams({ grant_type: "client_credentials", scope: "mcp:tools", resource: mcpUrl }),
});
const issued = await tokenResponse.json();
if (!tokenResponse.ok) {
  console.error(`token endpoint: ${tokenResponse.status} ${JSON.stringify(issued)}`);
  process.exit(1);
}
const token = issued.access_token;
const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));

/** POSTs one JSON-RPC message to /mcp with the given authorization and DPoP headers. */
async function call(body, { scheme = "DPoP", dpop } = {}) {
  const headers = {
    authorization: `${scheme} ${token}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
  };
  if (dpop) headers.dpop = dpop;
  const response = await fetch(mcpUrl, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, challenge: response.headers.get("www-authenticate") ?? "", text };
}

const rpc = (id, method, params) => ({ jsonrpc: "2.0", id, method, params });
const initialize = rpc(1, "initialize", {
  protocolVersion: "2025-11-25",
  capabilities: {},
  clientInfo: { name: "dpop-client", version: "1" },
});

const init = await call(initialize, { dpop: await proof(key, "POST", mcpUrl, token) });
const list = await call(rpc(2, "tools/list", {}), { dpop: await proof(key, "POST", mcpUrl, token) });
const lastProof = await proof(key, "POST", mcpUrl, token);
const search = await call(rpc(3, "tools/call", { name: "search", arguments: { query: "chocolate" } }), {
  dpop: lastProof,
});
const hits = search.status === 200 ? JSON.parse(search.text).result?.structuredContent?.results?.length : null;

const thief = await makeKey();
const otherKey = await call(rpc(4, "tools/list", {}), { dpop: await proof(thief, "POST", mcpUrl, token) });
const asBearer = await call(rpc(5, "tools/list", {}), { scheme: "Bearer" });
const replayed = await call(rpc(3, "tools/call", { name: "search", arguments: { query: "chocolate" } }), {
  dpop: lastProof,
});

console.log(
  JSON.stringify({
    token_type: issued.token_type,
    jkt_is_the_key: claims.cnf?.jkt === (await calculateJwkThumbprint(key.jwk)),
    initialize: init.status,
    tools_list: list.status,
    search: search.status,
    search_hits: hits,
    other_key: { status: otherKey.status, challenge: otherKey.challenge },
    as_bearer: { status: asBearer.status, challenge: asBearer.challenge },
    replayed: { status: replayed.status, challenge: replayed.challenge },
  }),
);
