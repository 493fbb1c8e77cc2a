"""MCP over stdio, strict about what it reads: every line is UTF-8 JSON-RPC or gets the error
JSON-RPC prescribes.

The SDK's stdio transport decodes standard input with ``errors="replace"`` (invalid UTF-8
becomes U+FFFD, silently) and answers a line that is not JSON-RPC with nothing. Here each line
is read as bytes, at most :data:`MAX_LINE` of them, and checked before the SDK sees it: bytes
that are not UTF-8 or text that is not JSON get ``-32700 Parse error``; JSON that is not a
JSON-RPC message gets ``-32600 Invalid Request`` (``id: null``: a line that cannot be read
has no id). Everything else goes to the SDK's session unchanged. Replies and these errors
share one writer, a line at a time, so they never interleave.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

import anyio

__all__ = ["MAX_LINE", "serve_stdio"]

MAX_LINE = 64 * 1024 * 1024
"""Longest line (bytes) read from standard input; a longer one is refused, not buffered."""


class _Writer:
    """Standard output, one whole line at a time."""

    def __init__(self, inner: Any):
        self._inner = inner
        self._lock = anyio.Lock()

    async def write(self, text: str) -> None:
        async with self._lock:
            await self._inner.write(text)
            if text.endswith("\n"):
                await self._inner.flush()

    async def flush(self) -> None:
        async with self._lock:
            await self._inner.flush()

    async def error(self, code: int, message: str, ident: str | int | None = None) -> None:
        line = {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}
        await self.write(json.dumps(line) + "\n")


class _Reader:
    """Standard input as the lines the SDK may see."""

    def __init__(self, raw: Any, out: _Writer):
        self._raw = raw
        self._out = out

    def __aiter__(self) -> _Reader:
        return self

    async def __anext__(self) -> str:
        import mcp_types

        while True:
            line: bytes = await anyio.to_thread.run_sync(self._raw.readline, MAX_LINE + 1)
            if not line:
                raise StopAsyncIteration
            if len(line) > MAX_LINE:
                while line and not line.endswith(b"\n"):  # skip the rest of it
                    line = await anyio.to_thread.run_sync(self._raw.readline, 1024 * 1024)
                await self._out.error(-32700, f"Parse error: a line longer than {MAX_LINE} bytes")
                continue
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                await self._out.error(-32700, "Parse error: the line is not UTF-8")
                continue
            try:  # (the one parse of a good line; a bad one is parsed again to say why)
                mcp_types.jsonrpc_message_adapter.validate_json(text, by_name=False)
            except Exception as exc:  # pydantic's: not JSON, or not a message the SDK can take
                await _refuse_line(self._out, text, exc)
                continue
            return text


async def _refuse_line(out: _Writer, text: str, exc: Exception) -> None:
    """The JSON-RPC error for a line the SDK cannot take: -32700 if it is not JSON, else
    -32600 with the request's id when it has one (its caller waits on it)."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        await out.error(-32700, "Parse error: the line is not JSON")
        return
    ident = parsed.get("id") if isinstance(parsed, dict) else None
    if isinstance(ident, bool) or not isinstance(ident, str | int):
        ident = None
    why = "nested too deeply" if "recursion" in str(exc).lower() else "not a JSON-RPC 2.0 message"
    await out.error(-32600, f"Invalid Request: {why}", ident)


def _claimed(fd: int, stream: Any, mode: Literal["rb", "wb"]) -> tuple[Any, Any]:
    """The binary stream of fd 0 or 1, claimed the way the SDK's own transport does (while
    serving, the descriptor points elsewhere, so a stray print cannot corrupt the wire), or
    the stream's buffer as is if this SDK has no such helper."""
    try:
        from mcp.server import stdio as sdk

        divert = sdk._open_stdin_diversion if fd == 0 else sdk._open_stdout_diversion
        buffer, restore = sdk._claim_fd(fd, stream, mode, divert)
        return buffer, restore
    except (ImportError, AttributeError):  # another SDK version: the buffer, unclaimed
        return stream.buffer, None


async def serve_stdio(server: Any) -> None:
    """Serve an :class:`~mcp.server.MCPServer` on standard input and output."""
    from io import TextIOWrapper

    from mcp.server.stdio import stdio_server

    in_buffer, restore_in = _claimed(0, sys.stdin, "rb")
    out_buffer, restore_out = _claimed(1, sys.stdout, "wb")
    try:
        text_out = TextIOWrapper(out_buffer, encoding="utf-8", write_through=True)
        writer = _Writer(anyio.wrap_file(text_out))
        reader = _Reader(in_buffer, writer)
        async with stdio_server(stdin=reader, stdout=writer) as (read_stream, write_stream):  # type: ignore[arg-type]
            low = server._lowlevel_server
            await low.run(read_stream, write_stream, low.create_initialization_options())
        text_out.detach()  # the buffer is not ours to close
    finally:
        if restore_out is not None:
            restore_out()
        if restore_in is not None:
            restore_in()
