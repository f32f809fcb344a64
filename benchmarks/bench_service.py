"""HTTP service latency and throughput: `sevtriage serve` on loopback under 1, 10 and 50 concurrent clients.

    python benchmarks/bench_service.py                   # 10 s per level, server on core 0, load on core 1
    python benchmarks/bench_service.py --seconds 5 --clients 1 10

The load generator is a small asyncio HTTP/1.1 keep-alive client (one connection per simulated client, each
sending its next request as soon as the previous answer arrived); it stops by itself after `--seconds` per
level. The server's resident memory is read before the first and after the last level.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _payloads() -> list[bytes]:
    corpus = sorted((ROOT / "data" / "corpus").glob("*/*.jsonl")) or [ROOT / "examples" / "requests.jsonl"]
    bodies: list[bytes] = []
    n = 0
    for path in corpus:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            request = {
                "id": f"L-{n}",
                "subject": record.get("subject") or "",
                "body": record.get("body") or "",
                "received_at": "2026-11-26T09:00:00+01:00",
                "plan": "premier" if n % 3 == 0 else "standard",
            }
            bodies.append(json.dumps(request, ensure_ascii=False).encode("utf-8"))
            n += 1
    return bodies


def _request(body: bytes) -> bytes:
    head = (
        "POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _client(port: int, requests: list[bytes], offset: int, until: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    n = offset
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(requests[n % len(requests)])
            n += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1
    finally:
        writer.close()
    return errors


async def _level(port: int, clients: int, seconds: float, requests: list[bytes]) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    started = time.perf_counter()
    until = started + seconds
    errors = await asyncio.gather(*(_client(port, requests, i * 997, until, latencies) for i in range(clients)))
    return latencies, sum(errors), time.perf_counter() - started


def _batching(port: int) -> tuple[int, int]:
    """(batches, requests in them) from the server's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode("utf-8")
    values = {}
    for line in text.splitlines():
        if line.startswith(("sevtriage_classify_batches_total ", "sevtriage_classify_batched_requests_total ")):
            name, value = line.split()
            values[name] = int(float(value))
    return values.get("sevtriage_classify_batches_total", 0), values.get("sevtriage_classify_batched_requests_total", 0)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--engine", choices=["durable", "python"], default="durable")
    args = parser.parse_args()

    cores = sorted(os.sched_getaffinity(0))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    env.update({"SEVTRIAGE_STORE_URL": "", "SEVTRIAGE_ENGINE": args.engine})
    server = subprocess.Popen(
        [sys.executable, "-m", "sevtriage", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process = psutil.Process(server.pid)
    if len(cores) > 1:
        # Server and load generator on different cores, so that the generator does not steal the server's CPU.
        process.cpu_affinity([cores[0]])
        os.sched_setaffinity(0, {cores[1]})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        requests = [_request(body) for body in _payloads()]
        asyncio.run(_level(port, 4, 2.0, requests))  # warm-up: first calls build caches
        rss_before = process.memory_info().rss
        print(
            f"sevtriage service benchmark: POST /v1/classify on loopback, engine {args.engine}, "
            f"{args.seconds:.0f} s per level, server pinned to core {cores[0]}"
            + (f", load generator on core {cores[1]}" if len(cores) > 1 else " (one core shared)")
        )
        columns = ("clients", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "batch")
        print("  " + " ".join(f"{c:>{w}}" for c, w in zip(columns, (7, 9, 8, 8, 8, 8, 6, 6), strict=True)))
        for clients in args.clients:
            batches_before, batched_before = _batching(port)
            latencies, errors, elapsed = asyncio.run(_level(port, clients, args.seconds, requests))
            batches, batched = _batching(port)
            mean_batch = (batched - batched_before) / max(batches - batches_before, 1)
            print(
                f"  {clients:7d} {len(latencies):9d} {len(latencies) / elapsed:8.0f} "
                f"{1000 * statistics.median(latencies):8.2f} {1000 * _percentile(latencies, 0.99):8.2f} "
                f"{1000 * max(latencies):8.2f} {errors:6d} {mean_batch:6.1f}"
            )
        rss_after = process.memory_info().rss
        print(
            f"  server RSS: {rss_before / 2**20:.1f} MiB before, {rss_after / 2**20:.1f} MiB after "
            f"({(rss_after - rss_before) / 2**20:+.1f} MiB)"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
