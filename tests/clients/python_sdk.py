"""Drives the server with the official Python MCP SDK and prints what it saw as JSON.

Usage: python_sdk.py URL TOKEN MODE, where MODE is `auto` (Streamable HTTP; the SDK probes
server/discover and falls back to initialize), `legacy` (Streamable HTTP with the initialize
handshake), `sse` (the 2024-11-05 HTTP+SSE transport at URL, e.g. http://host/sse) or
`sse-searches` (that transport: the tools, then 20 searches on one stream).
Exits non-zero, with the error on stderr, if anything fails.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client


async def exercise(client: Client) -> dict:
    tools = await client.list_tools()
    found = await client.call_tool("search", {"query": "chocolate orders"})
    results = found.structured_content["results"]
    first = results[0]["id"]
    document = await client.call_tool("fetch", {"id": first})
    missing = await client.call_tool("fetch", {"id": "no-such-document"})
    return {
        "protocolVersion": client.protocol_version,
        "serverName": client.server_info.name if client.server_info else None,
        "tools": [t.name for t in tools.tools],
        "annotations": {t.name: t.annotations.model_dump(by_alias=True, exclude_none=True) for t in tools.tools},
        "searchText": found.content[0].text,
        "search": found.structured_content,
        "fetch": document.structured_content,
        "missingIsError": missing.is_error,
        "missingText": missing.content[0].text,
    }


async def searches(client: Client) -> dict:
    tools = await client.list_tools()
    hits = []
    for i in range(20):
        found = await client.call_tool("search", {"query": f"chocolate {i}"})
        hits.append(len(found.structured_content["results"]))
    return {"tools": [t.name for t in tools.tools], "hits": hits}


async def main(url: str, token: str, mode: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if mode == "sse-searches":
        async with Client(sse_client(url, headers=headers), mode="legacy") as client:
            return await searches(client)
    if mode == "sse":
        async with Client(sse_client(url, headers=headers), mode="legacy") as client:
            return await exercise(client)
    async with httpx2.AsyncClient(headers=headers, timeout=10) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode) as client:
            return await exercise(client)


if __name__ == "__main__":
    url, token, mode = sys.argv[1:4]
    print(json.dumps(asyncio.run(main(url, token, mode))))
