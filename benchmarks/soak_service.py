"""Soak test of the service with a SQLite store: is every request answered 200 also stored?

Run:  .venv/bin/python benchmarks/soak_service.py [--minutes 10] [--clients 64]

Starts `sevtriage serve` with a fresh SQLite store and a copy of the bundled rules, then for the given time:
64 keep-alive clients on loopback send requests to POST /v1/classify, about 1 in 5 of them poisoned (a lone
surrogate or a NUL byte in the text, an id longer than the store's column, a body that is not JSON); the rule file
gets new content and is reloaded a few times; and `sevtriage classify --store` imports a file into the same store
at the same time. Then it stops by itself, stops the service and compares: the ids answered 200 against the ids
stored (and the CLI's decisions against what it stored). It prints both counts and exits 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from sevtriage.resources import default_rules_path
from sevtriage.store import DecisionStore

BODIES = [
    "Production is down, nobody can log in.",
    "How do I export the attendance report to Excel?",
    "Reports are very slow since the update, month close is blocked.",
    "Nefunguje export faktúr do Excelu, padá s chybou 500.",
    "Jednomu uživateli nejde schválit dovolenou.",
    "Typo in the English menu.",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def request_body(n: int, rng: random.Random) -> tuple[str, bytes, bool]:
    """(id, raw JSON body, poisoned?) for request number `n`."""
    rid = f"SOAK-{n:08d}"
    body = rng.choice(BODIES)
    received = "2026-11-24T10:00:00+01:00"
    kind = rng.randrange(20)
    if kind == 0:  # a lone surrogate: valid JSON, not valid UTF-8 text
        raw = f'{{"id": "{rid}", "body": "{body} \\ud800 !", "received_at": "{received}"}}'
        return rid, raw.encode(), True
    if kind == 1:  # a NUL byte, which PostgreSQL text cannot hold
        raw = f'{{"id": "{rid}", "body": "{body} \\u0000 !", "received_at": "{received}"}}'
        return rid, raw.encode(), True
    if kind == 2:  # an id longer than the store's column
        long_id = rid + "-" + "x" * 300
        return long_id, json.dumps({"id": long_id, "body": body, "received_at": received}).encode(), True
    if kind == 3:  # not JSON at all
        return rid, b'{"id": "' + rid.encode() + b'", "body": ', True
    return rid, json.dumps({"id": rid, "body": body, "received_at": received}).encode(), False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--clients", type=int, default=64, help="keep-alive clients (default 64)")
    parser.add_argument("--reloads", type=int, default=4, help="rule reloads with new content (default 4)")
    parser.add_argument("--cli-rows", type=int, default=20_000, help="rows the concurrent CLI import reads")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    url = f"sqlite:///{folder / 'soak.db'}"
    rules = folder / "severity.yaml"
    shutil.copy(default_rules_path(), rules)
    port = free_port()
    env = {**os.environ, "SEVTRIAGE_STORE_URL": url}
    env.pop("SEVTRIAGE_API_TOKEN", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sevtriage",
            "serve",
            "--port",
            str(port),
            "--rules",
            str(rules),
            "--log-level",
            "error",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "w"),  # noqa: SIM115 - open for the server's lifetime
    )
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() - started > 120 or server.poll() is not None:
            print("the service did not start; see", folder / "server.log")
            return 2
        time.sleep(0.2)

    deadline = time.monotonic() + args.minutes * 60
    counter = iter(range(10**9))
    lock = threading.Lock()
    answered: set[str] = set()
    statuses: Counter[int] = Counter()
    poisoned_statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=60, headers={"Content-Type": "application/json"}) as http:
            while time.monotonic() < deadline:
                with lock:
                    n = next(counter)
                _, raw, poisoned = request_body(n, rng)
                try:
                    response = http.post("/v1/classify", content=raw)
                except httpx.HTTPError as error:
                    with lock:
                        errors[type(error).__name__] += 1
                    continue
                with lock:
                    (poisoned_statuses if poisoned else statuses)[response.status_code] += 1
                    if response.status_code == 200:
                        answered.add(response.json()["id"])

    def reloader() -> None:
        for i in range(args.reloads):
            time.sleep(args.minutes * 60 / (args.reloads + 1))
            with rules.open("a", encoding="utf-8") as handle:
                handle.write(f"\n# soak reload {i}\n")  # new content, same rules
            reply = httpx.post(f"{base}/v1/admin/reload", timeout=120)
            print(f"reload {i + 1}: {reply.status_code} {reply.json().get('rules_version', reply.text[:80])}")

    cli_input = folder / "import.jsonl"
    with cli_input.open("w", encoding="utf-8") as handle:
        for i in range(args.cli_rows):
            handle.write(
                json.dumps(
                    {
                        "id": f"CLI-{i:07d}",
                        "body": BODIES[i % len(BODIES)],
                        "plan": "standard",
                        "received_at": "2026-11-24T10:00:00+01:00",
                    }
                )
                + "\n"
            )

    def importer() -> None:
        time.sleep(args.minutes * 60 / 3)
        done = subprocess.run(
            [sys.executable, "-m", "sevtriage", "classify", str(cli_input), "-o", str(folder / "import.out.jsonl"),
             "--store", url, "--quiet"],
            env=env,
            capture_output=True,
            text=True,
        )  # fmt: skip
        print(f"CLI import exit {done.returncode} {done.stderr.strip()[:200]}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    threads += [threading.Thread(target=reloader), threading.Thread(target=importer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.send_signal(signal.SIGINT)
    server.wait(timeout=120)

    with DecisionStore.open(url) as store, store.engine.connect() as conn:
        from sqlalchemy import select

        from sevtriage.store.schema import requests

        stored = {row[0] for row in conn.execute(select(requests.c.id))}
    soak_stored = {i for i in stored if i.startswith("SOAK-")}
    cli_out = folder / "import.out.jsonl"
    cli_decided = {json.loads(line)["id"] for line in cli_out.open(encoding="utf-8")} if cli_out.exists() else set()
    cli_stored = {i for i in stored if i.startswith("CLI-")}
    lost = answered - soak_stored
    cli_lost = cli_decided - cli_stored
    print(f"soak: {args.minutes:g} min, {args.clients} keep-alive clients, {args.reloads} reloads, store {url}")
    print(f"  requests sent        {sum(statuses.values()) + sum(poisoned_statuses.values()):,}")
    print(f"  plain, by status     {dict(sorted(statuses.items()))}")
    print(f"  poisoned, by status  {dict(sorted(poisoned_statuses.items()))}")
    print(f"  client errors        {dict(errors) or 'none'}")
    print(f"  answered 200         {len(answered):,}")
    print(f"  stored               {len(soak_stored):,}")
    print(f"  answered but lost    {len(lost):,}")
    print(f"  CLI: decided {len(cli_decided):,}, stored {len(cli_stored):,}, lost {len(cli_lost):,}")
    return 1 if lost or cli_lost else 0


if __name__ == "__main__":
    sys.exit(main())
