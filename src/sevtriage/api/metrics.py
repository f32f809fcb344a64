"""Prometheus metrics, written in the text exposition format (version 0.0.4) without a client library.

Format: https://prometheus.io/docs/instrumenting/exposition_formats/ (counters end in `_total`,
histograms have cumulative `_bucket{le=...}`, `_sum` and `_count`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sevtriage.types import Decision

LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"


def resident_memory_bytes() -> int | None:
    """This process's resident set size from /proc (Linux), or None elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


class Metrics:
    """The service's counters and histograms; thread-safe (routes run in a thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._latency_buckets: dict[str, list[int]] = {}
        self._latency_sum: dict[str, float] = defaultdict(float)
        self._latency_count: dict[str, int] = defaultdict(int)
        self._decisions: dict[tuple[str, str], int] = defaultdict(int)
        self.needs_review = 0
        self.decisions = 0
        self.rejects = 0
        self.sink_errors = 0
        self.not_stored = 0
        self.reloads = 0
        self.reload_failures = 0
        self.fast_path = 0

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, str(status))] += 1
            buckets = self._latency_buckets.get(route)
            if buckets is None:
                buckets = self._latency_buckets[route] = [0] * len(LATENCY_BUCKETS)
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
                    break
            self._latency_sum[route] += seconds
            self._latency_count[route] += 1

    def observe_decisions(self, decisions: Iterable[Decision], rejects: int = 0) -> None:
        with self._lock:
            for decision in decisions:
                self._decisions[(decision.severity_name or "undecided", decision.source or "none")] += 1
                self.decisions += 1
                self.needs_review += decision.needs_review
            self.rejects += rejects

    def count(self, name: str, by: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + by)

    def render(self, info: dict[str, str], batches: int = 0, batched: int = 0) -> str:
        """The exposition text."""
        out: list[str] = []

        def family(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, Any]]) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{sample} {value}" for sample, value in samples)

        with self._lock:
            family(
                "sevtriage_http_requests_total",
                "counter",
                "HTTP requests by method, route template and status.",
                (
                    (f"sevtriage_http_requests_total{_labels(('method', 'route', 'status'), key)}", count)
                    for key, count in sorted(self._requests.items())
                ),
            )
            latency: list[tuple[str, Any]] = []
            name = "sevtriage_http_request_duration_seconds"
            for route in sorted(self._latency_buckets):
                cumulative = 0
                for bound, count in zip(LATENCY_BUCKETS, self._latency_buckets[route], strict=True):
                    cumulative += count
                    latency.append(
                        (
                            f"{name}_bucket{_labels(('route', 'le'), (route, repr(bound)))}",
                            cumulative,
                        )
                    )
                name = "sevtriage_http_request_duration_seconds"
                latency.append(
                    (f"{name}_bucket{_labels(('route', 'le'), (route, '+Inf'))}", self._latency_count[route])
                )
                latency.append((f"{name}_sum{_labels(('route',), (route,))}", round(self._latency_sum[route], 6)))
                latency.append((f"{name}_count{_labels(('route',), (route,))}", self._latency_count[route]))
            family(
                "sevtriage_http_request_duration_seconds",
                "histogram",
                "Time from request start to response end, by route template.",
                latency,
            )
            family(
                "sevtriage_decisions_total",
                "counter",
                "Decisions made, by severity and source (rules or model).",
                (
                    (f"sevtriage_decisions_total{_labels(('severity', 'source'), key)}", count)
                    for key, count in sorted(self._decisions.items())
                ),
            )
            family(
                "sevtriage_decisions_needs_review_total",
                "counter",
                "Decisions sent to a specialist for review.",
                [("sevtriage_decisions_needs_review_total", self.needs_review)],
            )
            rate = self.needs_review / self.decisions if self.decisions else 0.0
            family(
                "sevtriage_review_rate",
                "gauge",
                "Share of decisions since start-up that need review.",
                [("sevtriage_review_rate", round(rate, 6))],
            )
            family(
                "sevtriage_rejects_total",
                "counter",
                "Requests refused as invalid (in batch calls).",
                [("sevtriage_rejects_total", self.rejects)],
            )
            family(
                "sevtriage_sink_errors_total",
                "counter",
                "Sink calls (decision store writes) in which at least one decision was not kept.",
                [("sevtriage_sink_errors_total", self.sink_errors)],
            )
            family(
                "sevtriage_not_stored_total",
                "counter",
                "Decisions a sink did not keep; each was answered with 503 (not_stored) or a retryable reject.",
                [("sevtriage_not_stored_total", self.not_stored)],
            )
            family(
                "sevtriage_reloads_total",
                "counter",
                "Successful reloads of rules and model.",
                [("sevtriage_reloads_total", self.reloads)],
            )
            family(
                "sevtriage_reload_failures_total",
                "counter",
                "Reloads refused because the new files were invalid (the old ones stayed in service).",
                [("sevtriage_reload_failures_total", self.reload_failures)],
            )
            family(
                "sevtriage_classify_fast_path_total",
                "counter",
                "POST /v1/classify calls answered without FastAPI's validation (well-formed and authorised ones; "
                "the others went through FastAPI).",
                [("sevtriage_classify_fast_path_total", self.fast_path)],
            )
        family(
            "sevtriage_classify_batches_total",
            "counter",
            "classify_many calls made for single-request calls (concurrent calls share one).",
            [("sevtriage_classify_batches_total", batches)],
        )
        family(
            "sevtriage_classify_batched_requests_total",
            "counter",
            "Single-request calls classified through those batches.",
            [("sevtriage_classify_batched_requests_total", batched)],
        )
        family(
            "sevtriage_info",
            "gauge",
            "Versions of the rules and model in service.",
            [(f"sevtriage_info{_labels(tuple(info), tuple(info.values()))}", 1)],
        )
        family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch.",
            [("process_start_time_seconds", round(self.started, 3))],
        )
        memory = resident_memory_bytes()
        if memory is not None:
            family(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                [("process_resident_memory_bytes", memory)],
            )
        return "\n".join(out) + "\n"


class MetricsMiddleware:
    """Counts every request and its latency by route template (not raw path, to keep label sets small)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], template, status, time.perf_counter() - started)


class WorkerHeaderMiddleware:
    """Names the answering worker process in ``X-Sevtriage-Worker`` (its pid), when several serve one port."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.header = (b"x-sevtriage-worker", str(os.getpid()).encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_wrapper)
