"""Dashboard page routes. Thin: parse, call a service, render a template."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
