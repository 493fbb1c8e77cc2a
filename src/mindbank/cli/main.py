"""The ``mindbank`` command. Subcommand groups are imported only when they are used."""

from __future__ import annotations

import importlib
from typing import Any

import click

from mindbank.cli.output import handle_errors

__all__ = ["cli", "main"]

# name -> (module, attribute, short help). Loaded on demand to keep start-up fast.
_LAZY = {
    "memory": ("mindbank.cli.memory", "memory", "Store, find, list, export and back up memory."),
    "bank": (
        "mindbank.cli.bank",
        "bank",
        "The ReasoningBank: lessons from successes and failures.",
    ),
    "db": ("mindbank.cli.db", "db", "Migrate, inspect, check and optimize the database."),
    "demo": ("mindbank.cli.demo", "demo", "Run a real demonstration on a scratch database."),
    "search": ("mindbank.cli.search", "search", "Find entries by meaning and keywords."),
    "mcp": ("mindbank.cli.mcp", "mcp", "Serve mindbank to agents over MCP (stdio or HTTP)."),
    "hooks": ("mindbank.cli.hooks", "hooks", "Hooks for coding agents (Claude Code)."),
    "neural": ("mindbank.cli.neural", "neural", "Train and use neural models on your records."),
    "pipeline": ("mindbank.cli.pipeline", "pipeline", "Learn which strategy passes real tests."),
    "training": (
        "mindbank.cli.training",
        "training",
        "Train, learn patterns, update models: incremental, online, transfer, federated.",
    ),
    "sync": (
        "mindbank.cli.sync",
        "sync",
        "Sync this local memory, as a replica, with a shared PostgreSQL one.",
    ),
    "train-and-stream": (
        "mindbank.cli.pipeline",
        "train_and_stream",
        "Pick a strategy for a task from what was learned, run it, record it.",
    ),
}


class MindbankGroup(click.Group):
    """A group that loads subcommands lazily and turns mindbank errors into one line + exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY:
            module, attr, _ = _LAZY[cmd_name]
            cmd = getattr(importlib.import_module(module), attr)
            assert isinstance(cmd, click.Command)
            return cmd
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every group.
        rows = [(name, _LAZY[name][2]) for name in sorted(_LAZY)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        with handle_errors():
            return super().invoke(ctx)


@click.group(
    cls=MindbankGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="mindbank", prog_name="mindbank")
def cli() -> None:
    """mindbank: local-first memory for AI agents.

    Stores what agents learn in one SQLite file (.mindbank/memory.db, found upward from the
    current directory like git finds its repository; --db or MINDBANK_DB override it).

    \b
    Examples:
      mindbank memory store api-design "Use REST" -n architecture -t api
      mindbank memory retrieve api-design -n architecture
      mindbank memory list -n architecture -p 'api-*'
      mindbank search "how do we version the API"
      mindbank bank query "backend architecture database API" -k 3
      mindbank db status
      mindbank mcp install
      mindbank demo
    """


def main() -> None:
    """Entry point of the ``mindbank`` console script."""
    cli(prog_name="mindbank")
