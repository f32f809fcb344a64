"""HTTP service latency and throughput: `sevtriage serve` on loopback under 1, 10 and 50 concurrent clients.

    python benchmarks/bench_service.py                   # 10 s per level, server on core 0, load on core 1
    python benchmarks/bench_service.py --seconds 5 --clients 1 10
    python benchmarks/bench_service.py --workers 1 2     # one server after the other, same levels, same run

With one worker the server is pinned to the first core and the load generator to the second. With more workers
only the load generator is pinned (to the second core): the workers may use every core, and share the second
with the generator. Before the classify levels of each server, `GET /healthz` at 10 clients gives a baseline
measured in the same run (the HTTP stack without classification), since the machine is shared.

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


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


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


def _batching(port: int, workers: int) -> tuple[int, int]:
    """(batches, requests in them) from the server's /metrics, summed over the workers.

    Each call is a new connection, which the kernel hands to any worker; ask until every worker answered.
    """
    per_worker: dict[str, tuple[int, int]] = {}
    for _ in range(50 * workers):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            worker = response.headers.get("x-sevtriage-worker", "only")
            text = response.read().decode("utf-8")
        values = {}
        for line in text.splitlines():
            if line.startswith(("sevtriage_classify_batches_total ", "sevtriage_classify_batched_requests_total ")):
                name, value = line.split()
                values[name] = int(float(value))
        per_worker[worker] = (
            values.get("sevtriage_classify_batches_total", 0),
            values.get("sevtriage_classify_batched_requests_total", 0),
        )
        if len(per_worker) >= workers:
            break
    return sum(b for b, _ in per_worker.values()), sum(r for _, r in per_worker.values())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _row(label: str, latencies: list[float], errors: int, elapsed: float, batch: str) -> tuple[str, float]:
    p99 = 1000 * _percentile(latencies, 0.99)
    line = (
        f"  {label:>9} {len(latencies):9d} {len(latencies) / elapsed:8.0f} "
        f"{1000 * statistics.median(latencies):8.2f} {p99:8.2f} {1000 * max(latencies):8.2f} {errors:6d} {batch:>6}"
    )
    return line, p99


def _serve(port: int, workers: int, engine: str, cores: list[int]) -> tuple[subprocess.Popen[bytes], psutil.Process]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    env.update({"SEVTRIAGE_STORE_URL": "", "SEVTRIAGE_ENGINE": engine})
    command = [sys.executable, "-m", "sevtriage", "serve", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(
        [*command, "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    process = psutil.Process(server.pid)
    if len(cores) > 1 and workers == 1:
        # Server and load generator on different cores, so that the generator does not steal the server's CPU.
        process.cpu_affinity([cores[0]])
    deadline = time.monotonic() + 120
    while True:
        try:
            seen = set()
            for _ in range(10 * workers):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    seen.add(response.headers.get("x-sevtriage-worker", "only"))
            if len(seen) >= workers:
                return server, process
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def _rss(process: psutil.Process) -> int:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="server processes (one run each)")
    parser.add_argument("--engine", choices=["durable", "python"], default="durable")
    args = parser.parse_args()

    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        os.sched_setaffinity(0, {cores[1]})
    requests = [_request(body) for body in _payloads()]
    print(
        f"sevtriage service benchmark: POST /v1/classify on loopback, engine {args.engine}, "
        f"{args.seconds:.0f} s per level, load generator on core {cores[-1]}; load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    p99_by: dict[tuple[int, int], float] = {}
    health_by: dict[int, float] = {}
    for workers in args.workers:
        port = _free_port()
        server, process = _serve(port, workers, args.engine, cores)
        try:
            asyncio.run(_level(port, 4, 2.0, requests))  # warm-up: first calls build caches
            rss_before = _rss(process)
            pinned = f"pinned to core {cores[0]}" if workers == 1 and len(cores) > 1 else "not pinned"
            print(f"\n{workers} worker(s), {pinned}; load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
            columns = ("clients", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "batch")
            print("  " + " ".join(f"{c:>{w}}" for c, w in zip(columns, (9, 9, 8, 8, 8, 8, 6, 6), strict=True)))
            latencies, errors, elapsed = asyncio.run(_level(port, 10, args.seconds / 2, [HEALTH]))
            line, health_by[workers] = _row("10 health", latencies, errors, elapsed, "-")
            print(line)
            for clients in args.clients:
                batches_before, batched_before = _batching(port, workers)
                latencies, errors, elapsed = asyncio.run(_level(port, clients, args.seconds, requests))
                batches, batched = _batching(port, workers)
                mean_batch = (batched - batched_before) / max(batches - batches_before, 1)
                line, p99_by[workers, clients] = _row(str(clients), latencies, errors, elapsed, f"{mean_batch:.1f}")
                print(line)
            rss_after = _rss(process)
            print(
                f"  server RSS (all processes): {rss_before / 2**20:.1f} MiB before, {rss_after / 2**20:.1f} MiB "
                f"after ({(rss_after - rss_before) / 2**20:+.1f} MiB)"
            )
        finally:
            server.terminate()
            server.wait(timeout=60)
    print("\nRatios (same run): classify p99 over /healthz p99 at 10 clients, and over the first worker count")
    first = args.workers[0]
    for (workers, clients), p99 in p99_by.items():
        against_first = p99 / p99_by[first, clients] if (first, clients) in p99_by else float("nan")
        print(
            f"  {workers} worker(s), {clients:3d} clients: p99 {p99:7.2f} ms = {p99 / health_by[workers]:5.1f}x "
            f"/healthz, {against_first:4.2f}x {first} worker(s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
