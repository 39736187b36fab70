"""Pydantic schemas shared by the API, the pages, the CLI and the worker (no torch, no SQL)."""
