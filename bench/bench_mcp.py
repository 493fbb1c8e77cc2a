"""MCP round trips over stdio, with the SDK's real client and the real server in a subprocess.

Prints: server start to first answer (process launch, initialize, the first tools/list), and
the round trip of ``memory_retrieve`` and ``memory_search`` (median and p99) on a database of
1,000 entries embedded with the default model. Baseline in the same run: the same retrieve and
search called in-process through the Python API, so the ratio is the protocol's cost.

Run: ``python bench/bench_mcp.py`` (not ``bench/mcp.py``: that name would shadow the ``mcp`` package) (about a minute; it embeds 1,000 short texts first).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mcp import Client
from mcp.client.stdio import StdioServerParameters

import mindbank


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mindbank-bench-mcp-"))
    db = tmp / "memory.db"
    words = "cache retry backoff lock timeout index schema query token api".split()
    with mindbank.open(db) as mb:
        mb.store_many(
            {"key": f"fact-{i}", "value": f"fact {i}: {words[i % 10]} and {words[(i * 7) % 10]}"}
            for i in range(1000)
        )
        api_get = []
        api_search = []
        for i in range(200):
            start = time.perf_counter()
            mb.retrieve(f"fact-{i}")
            api_get.append((time.perf_counter() - start) * 1000)
        for i in range(100):
            start = time.perf_counter()
            mb.search(f"how long to wait before retry number {i}", k=5)
            api_search.append((time.perf_counter() - start) * 1000)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mindbank", "mcp", "serve", "--db", str(db)]
    )
    starts = []
    for _ in range(5):
        start = time.perf_counter()
        async with Client(params) as client:
            await client.list_tools()
            starts.append((time.perf_counter() - start) * 1000)
    async with Client(params) as client:
        await client.call_tool("memory_search", {"query": "warm up the model"})
        rpc_get, rpc_search = [], []
        for i in range(200):
            start = time.perf_counter()
            result = await client.call_tool("memory_retrieve", {"key": f"fact-{i}"})
            rpc_get.append((time.perf_counter() - start) * 1000)
            assert not result.is_error
        for i in range(100):
            start = time.perf_counter()
            result = await client.call_tool(
                "memory_search", {"query": f"how long to wait before retry number {i}", "k": 5}
            )
            rpc_search.append((time.perf_counter() - start) * 1000)
            assert not result.is_error
    print(f"server start to first answer (launch + initialize + tools/list): "
          f"median {statistics.median(starts):.0f} ms over {len(starts)} starts")  # fmt: skip
    for name, rpc, api in (("memory_retrieve", rpc_get, api_get),
                           ("memory_search", rpc_search, api_search)):  # fmt: skip
        print(f"{name:<16} over stdio: median {pct(rpc, 50):6.2f} ms, p99 {pct(rpc, 99):6.2f} ms"
              f" | in-process API: median {pct(api, 50):6.3f} ms | protocol cost "
              f"+{pct(rpc, 50) - pct(api, 50):.2f} ms")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
