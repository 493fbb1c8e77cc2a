"""``mindbank mcp ...``: serve mindbank to agents over the Model Context Protocol."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mindbank.cli.output import (
    db_option,
    emit_json,
    fail,
    read_json_config,
    write_json_atomic,
)

__all__ = ["mcp"]

SERVER_NAME = "mindbank"
F = TypeVar("F", bound=Callable[..., Any])


@click.group("mcp")
def mcp() -> None:
    """Serve mindbank to agents over the Model Context Protocol (MCP)."""


@mcp.command()
@click.option("--http", "use_http", is_flag=True, help="Streamable HTTP instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP address to bind.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@db_option
def serve(use_http: bool, host: str, port: int, db: Path | None) -> None:
    """Run the MCP server: on stdio (default; nothing but protocol on stdout) or HTTP.

    \b
    Examples:
      mindbank mcp serve
      mindbank mcp serve --http --port 8765     # http://127.0.0.1:8765/mcp
    """
    import logging

    from mindbank.mcp.server import build_server

    # The SDK logs every refused call at INFO with every argument error: a call with 5,000
    # wrong items wrote 400 KB to stderr (and blocked on a stderr nobody read). The client
    # gets the error; the log keeps warnings and worse.
    logging.getLogger("mcp").setLevel(logging.WARNING)
    server, close = build_server(db)
    try:
        if use_http:
            server.run("streamable-http", host=host, port=port)
        else:
            import anyio

            from mindbank.mcp.stdio import serve_stdio

            anyio.run(serve_stdio, server)
    finally:
        close()


def _config_path(project: Path) -> Path:
    return project / ".mcp.json"


def _read_config(path: Path) -> dict[str, Any]:
    return read_json_config(path, "mcpServers", "an MCP configuration")


def _write_config(path: Path, data: dict[str, Any]) -> None:
    write_json_atomic(path, data)


def _project_option(f: F) -> F:
    return click.option(
        "--project",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default=True,
        help="The project whose .mcp.json to change.",
    )(f)


@mcp.command()
@_project_option
@db_option
def install(project: Path, db: Path | None) -> None:
    """Add mindbank to a project's MCP configuration for Claude Code (.mcp.json).

    Other servers in the file are kept. The entry runs this Python's mindbank, so it works
    from a virtual environment too.

    \b
    Example:
      mindbank mcp install --project ~/code/myapp
    """
    path = _config_path(project)
    data = _read_config(path)
    entry: dict[str, Any] = {
        "command": sys.executable,
        "args": ["-m", "mindbank", "mcp", "serve"],
    }
    if db is not None:
        entry["env"] = {"MINDBANK_DB": str(db.resolve())}
    servers = data.setdefault("mcpServers", {})
    existed = SERVER_NAME in servers
    servers[SERVER_NAME] = entry
    project.mkdir(parents=True, exist_ok=True)
    _write_config(path, data)
    click.echo(f"{'updated' if existed else 'added'} '{SERVER_NAME}' in {path}")


@mcp.command()
@_project_option
def uninstall(project: Path) -> None:
    """Remove mindbank from a project's .mcp.json (other servers are kept).

    \b
    Example:
      mindbank mcp uninstall --project ~/code/myapp
    """
    path = _config_path(project)
    data = _read_config(path)
    servers = data.get("mcpServers", {})
    if SERVER_NAME not in servers:
        fail(f"no '{SERVER_NAME}' server in {path}")
    del servers[SERVER_NAME]
    _write_config(path, data)
    click.echo(f"removed '{SERVER_NAME}' from {path}")


@mcp.command()
@click.option("--markdown", is_flag=True, help="A Markdown section, as in docs/mcp.md.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def tools(markdown: bool, as_json: bool) -> None:
    """List the tools the server offers, read from the server itself.

    \b
    Example:
      mindbank mcp tools --markdown
    """
    listed = asyncio.run(_list_tools())
    if as_json:
        emit_json(listed)
    elif markdown:
        click.echo(tools_markdown(listed), nl=False)
    else:
        for tool in listed:
            first = " ".join(tool["description"].split()).split(". ")[0].rstrip(".")
            click.echo(f"{tool['name']}: {first}")


async def _list_tools() -> list[dict[str, Any]]:
    import tempfile

    from mcp import Client

    from mindbank.mcp.server import build_server

    with tempfile.TemporaryDirectory() as tmp:
        server, close = build_server(Path(tmp) / "tools.db")
        try:
            async with Client(server) as client:
                result = await client.list_tools()
        finally:
            close()
    return [
        {"name": t.name, "description": t.description or "", "input_schema": t.input_schema}
        for t in result.tools
    ]


def tools_markdown(listed: list[dict[str, Any]]) -> str:
    """The tool list as Markdown (generated into docs/mcp.md)."""
    out = []
    for tool in listed:
        props = tool["input_schema"].get("properties", {})
        required = set(tool["input_schema"].get("required", []))
        args = ", ".join(f"`{n}`" + ("" if n in required else "?") for n in props) or "none"
        description = " ".join(tool["description"].split())
        out.append(f"### `{tool['name']}`\n\n{description}\n\nArguments: {args}\n")
    return "\n".join(out)
