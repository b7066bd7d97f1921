"""CLI commands, one module per command group; each public module defines `register(app)`.

Modules here are imported at every CLI start: keep heavy imports (torch, transformers, ...) inside the functions.
"""
