"""Interfaces: the `mindbank` command line (click + rich)."""
