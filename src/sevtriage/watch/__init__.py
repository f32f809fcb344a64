"""Watching the SLA clock of stored requests: the SLA board (status lists, recording responses) and alerts.

An edge like `api` and `cli`: it joins the store, the SLA policy and the outside world (SMTP, webhooks).
"""

from __future__ import annotations

from sevtriage.watch.board import SlaBoard

__all__ = ["SlaBoard"]
