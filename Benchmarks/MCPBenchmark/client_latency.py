"""read_changes latency as an agent sees it: the official Python MCP client over Streamable HTTP.

    python client_latency.py URL TOKEN STREAM FIRST NEXT LIMIT ITERATIONS

Calls read_changes ITERATIONS times (after 5 warm-up calls) from random offsets in [FIRST, NEXT - LIMIT) and prints
one JSON object: the per-call milliseconds' p50/p99 and the events returned per call.
"""
import asyncio, json, random, sys, time

from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

url, token, stream = sys.argv[1:4]
first, next_offset, limit, iterations = (int(x) for x in sys.argv[4:8])


async def main():
    samples, events = [], 0
    async with create_mcp_http_client(headers={"authorization": "Bearer " + token}) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            for index in range(iterations + 5):
                start_offset = random.randrange(first, next_offset - limit)
                began = time.perf_counter()
                result = await client.call_tool(
                    "read_changes", {"stream": stream, "from_offset": start_offset, "limit": limit})
                elapsed = (time.perf_counter() - began) * 1000
                if result.is_error:
                    raise SystemExit("read_changes failed: " + "".join(getattr(x, "text", "") for x in result.content))
                if index >= 5:
                    samples.append(elapsed)
                    events += len(result.structured_content["events"])
    samples.sort()
    pick = lambda p: samples[min(len(samples) - 1, round((len(samples) - 1) * p))]
    print(json.dumps({"p50": pick(0.5), "p99": pick(0.99), "events_per_call": events / len(samples)}))


asyncio.run(main())
