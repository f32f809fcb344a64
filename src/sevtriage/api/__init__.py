"""The HTTP API of `sevtriage serve` (FastAPI)."""

from __future__ import annotations

from sevtriage.api.app import create_app

__all__ = ["create_app"]
