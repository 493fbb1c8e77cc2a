"""Bridges between mindbank and the memory files of coding agents."""
