"""Service latency, A against B on a shared machine: several servers started at once, measured in turns.

    python benchmarks/bench_service_ab.py --server one:1 --server two:2                  # 1 against 2 workers
    python benchmarks/bench_service_ab.py --server main:1:/tmp/main/src --server new:1   # two checkouts
    python benchmarks/bench_service_ab.py --server one:1 --server two:2 --clients 50 --rounds 10

Each `--server LABEL:WORKERS[:SRC]` is a `sevtriage serve --workers WORKERS` (SRC first on PYTHONPATH, to measure
another checkout). All servers run for the whole benchmark; in every round each one gets the same load for
`--seconds` (`bench_service.py`'s keep-alive clients), one after the other in a rotating order. On a machine shared
with other work the load changes from minute to minute, so one long run per server compares different
conditions; short turns side by side compare like with like. Reported per server: the median over rounds of p50
and p99, the median over rounds of its p99 divided by the first server's p99 in the same round, and the CPU time
its processes spent per request (less sensitive to the other work on the machine than latency). Nothing is
pinned: every server may use every core, as the load generator may.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

import psutil

from bench_service import _free_port, _level, _payloads, _percentile, _request


@dataclass
class Server:
    label: str
    workers: int
    src: str | None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its workers so far."""
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total


def _parse(spec: str) -> Server:
    label, _, rest = spec.partition(":")
    workers, _, src = rest.partition(":")
    return Server(label, int(workers or 1), src or None)


def _start(server: Server) -> None:
    server.port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    env["SEVTRIAGE_STORE_URL"] = ""
    if server.src:
        env["PYTHONPATH"] = server.src
    command = [sys.executable, "-m", "sevtriage", "serve", "--port", str(server.port), "--log-level", "warning"]
    if server.workers > 1:
        command += ["--workers", str(server.workers)]
    server.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _ready(server: Server) -> bool:
    seen: set[str] = set()
    try:
        for _ in range(10 * server.workers):
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=2) as response:
                seen.add(response.headers.get("x-sevtriage-worker", "only"))
    except OSError:
        return False
    return len(seen) >= server.workers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", action="append", required=True, help="LABEL:WORKERS[:SRC]")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one turn")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()

    servers = [_parse(spec) for spec in args.server]
    requests = [_request(body) for body in _payloads()]
    for server in servers:
        _start(server)
    try:
        deadline = time.monotonic() + 180
        while not all(_ready(s) for s in servers):
            if time.monotonic() > deadline or any(s.process and s.process.poll() is not None for s in servers):
                raise SystemExit("a server did not start")
            time.sleep(0.5)
        for server in servers:
            asyncio.run(_level(server.port, 4, 2.0, requests))  # warm-up: first calls build caches
        load_before = os.getloadavg()
        ratios: dict[str, list[float]] = {s.label: [] for s in servers}
        for round_ in range(args.rounds):
            order = servers[round_ % len(servers) :] + servers[: round_ % len(servers)]
            p99_now: dict[str, float] = {}
            for server in order:
                cpu_before = server.cpu_seconds()
                latencies, _, elapsed = asyncio.run(_level(server.port, args.clients, args.seconds, requests))
                server.cpu_ms.append(1000 * (server.cpu_seconds() - cpu_before) / len(latencies))
                server.p50.append(1000 * statistics.median(latencies))
                server.p99.append(1000 * _percentile(latencies, 0.99))
                server.rate.append(len(latencies) / elapsed)
                p99_now[server.label] = server.p99[-1]
            for server in servers:
                ratios[server.label].append(p99_now[server.label] / p99_now[servers[0].label])
        load_after = os.getloadavg()
    finally:
        for server in servers:
            if server.process is not None:
                server.process.terminate()
                server.process.wait(timeout=60)
    print(
        f"sevtriage service A/B: POST /v1/classify, {args.clients} clients, {args.rounds} rounds of "
        f"{args.seconds:.0f} s per server; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    heads = ("server", "workers", "req/s", "p50 ms", "p99 ms", "p99 ratio", "CPU ms/req")
    print("  " + " ".join(f"{h:>{w}}" for h, w in zip(heads, (12, 7, 7, 8, 8, 10, 10), strict=True)) + "  (medians)")
    for server in servers:
        print(
            f"  {server.label:>12} {server.workers:7d} {statistics.median(server.rate):7.0f} "
            f"{statistics.median(server.p50):8.2f} {statistics.median(server.p99):8.2f} "
            f"{statistics.median(ratios[server.label]):10.2f} {statistics.median(server.cpu_ms):10.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
