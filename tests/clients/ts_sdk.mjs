// Drives the server with the official TypeScript MCP SDK client over Streamable HTTP (or, with
// the third argument `sse`, the 2024-11-05 HTTP+SSE transport) and prints what it saw as JSON.
// Usage: node ts_sdk.mjs URL TOKEN [streamable|sse]. Exits non-zero if anything fails.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, kind = "streamable"] = process.argv.slice(2);
const headers = { Authorization: `Bearer ${token}` };
const transport =
  kind === "sse"
    ? new SSEClientTransport(new URL(url), {
        requestInit: { headers },
        eventSourceInit: {
          fetch: (u, init) => fetch(u, { ...init, headers: { ...init?.headers, ...headers } }),
        },
      })
    : new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
const client = new Client({ name: "ts-sdk-test", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const found = await client.callTool({ name: "search", arguments: { query: "chocolate orders" } });
const first = found.structuredContent.results[0].id;
const document = await client.callTool({ name: "fetch", arguments: { id: first } });
const missing = await client.callTool({ name: "fetch", arguments: { id: "no-such-document" } });
console.log(
  JSON.stringify({
    protocolVersion: transport.protocolVersion ?? null,
    sessionId: transport.sessionId ?? null,
    serverName: client.getServerVersion()?.name,
    tools: tools.tools.map((t) => t.name),
    search: found.structuredContent,
    fetch: document.structuredContent,
    missingIsError: missing.isError === true,
  }),
);
await client.close();
