"""Mail intake speed: `mail import` messages per second, and the time from an IMAP APPEND to the stored decision.

Run from the repository root: ``python benchmarks/bench_mail.py [--messages 10000] [--watch 10]``.

1. Import: N generated messages (English/Slovak/Czech requests, one in ten a follow-up in an earlier thread, one in
   fifty an auto-reply) in an mbox, through `MailDesk` into a fresh SQLite store (the path of `sevtriage mail
   import`). Baseline, in the same run: the same requests as JSONL through the batch intake with `--store` (the path
   of `sevtriage classify --store`), so the ratio is the price of reading mail and following threads.
2. Watch: a throwaway Dovecot (scripts/start-test-dovecot.sh), a watcher in a thread (warmed up before it
   connects); each message is APPENDed over a second connection as soon as the previous one's decision is stored
   (so it lands while the watcher marks that batch, searches again or enters IDLE: the moments of the old IDLE
   stall), and the clock runs until its decision is in the store. IDLE against polling every 2 s (the baseline).
   The default IDLE period (300 s) is kept, so a missed announcement would show as a latency of minutes.
"""

from __future__ import annotations

import argparse
import io
import json
import mailbox
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sevtriage.intake.imap_watch import ImapConfig, MailWatcher  # noqa: E402
from sevtriage.intake.mail_files import read_mail_source  # noqa: E402
from sevtriage.intake.mail_import import MailDesk, MailRules  # noqa: E402
from sevtriage.intake.outputs import JsonlWriter, RejectsWriter  # noqa: E402
from sevtriage.intake.pipeline import intake_rules_for, run  # noqa: E402
from sevtriage.intake.readers import read_jsonl, validate  # noqa: E402
from sevtriage.store import DecisionStore  # noqa: E402
from sevtriage.triage import Triage  # noqa: E402

TEXTS = [
    ("Nobody can log in", "Since 9:10 every user gets HTTP 503; the whole company cannot clock in."),
    ("Export fails", "The payroll export to the bank fails with error 500 for November."),
    ("Ako zmeniť heslo?", "Dobrý deň, ako si zamestnanec zmení heslo? Ďakujem."),
    ("Nefunguje dochádzka", "Od rána sa nikto z firmy nevie prihlásiť, výroba stojí."),
    ("Pomalé reporty", "Mesačný report sa načítava desať minút, uzávierka je zajtra."),
    ("Jak přidat směnu?", "Kde v administraci nastavím nový typ směny? Nespěchá."),
    ("Mzdy smazaly data", "Po exportu mezd chybí docházka za říjen, hrozí ztráta dat."),
    ("Typo on a page", 'The leave page says "Aproved". Just cosmetic.'),
]
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
# A message still waiting after this long is reported as stalled (longer than one IDLE renewal).
WAIT_LIMIT = 400.0


def _message(i: int) -> EmailMessage:
    msg = EmailMessage()
    customer = f"user{i % 400}@customer{i % 97}.example"
    subject, body = TEXTS[i % len(TEXTS)]
    msg["From"] = customer
    msg["To"] = "support@managra.example"
    msg["Date"] = format_datetime(START + timedelta(minutes=i))
    msg["Message-ID"] = f"<bench-{i}@bench.example>"
    if i % 50 == 49:
        msg["Subject"] = f"Out of office: {subject}"
        msg["Auto-Submitted"] = "auto-replied"
        msg.set_content("I am away.")
    elif i % 10 == 9 and i >= 20:
        earlier = i - 11
        msg["Subject"] = f"Re: {subject} #{earlier}"
        msg["In-Reply-To"] = f"<bench-{earlier}@bench.example>"
        msg.set_content(f"Still broken, now for everyone.\n\nOn Mon, someone wrote:\n> {body}")
    else:
        msg["Subject"] = f"{subject} #{i}"
        msg.set_content(f"{body}\n\nRequest {i}.\n\nBest regards,\nUser {i}")
    return msg


def bench_import(triage: Triage, count: int, work: Path) -> dict[str, float]:
    box_path = work / "bench.mbox"
    box = mailbox.mbox(box_path)
    box.lock()
    for i in range(count):
        box.add(_message(i))
    box.flush()
    box.unlock()
    box.close()
    policy = triage.sla
    assert policy is not None
    with DecisionStore.open(f"sqlite:///{work / 'mail.db'}") as store:
        desk = MailDesk(triage, store, MailRules(default_plan=policy.default_plan), batch_size=1000)
        started = time.perf_counter()
        for _ in desk.process(read_mail_source(box_path)):
            pass
        mail_seconds = time.perf_counter() - started
    summary = desk.summary
    assert summary.messages == count

    # Baseline: the same new requests as JSONL, through the batch intake into a store.
    lines = []
    for i in range(count):
        subject, body = TEXTS[i % len(TEXTS)]
        lines.append(
            json.dumps(
                {"id": f"b{i}", "subject": f"{subject} #{i}", "body": body, "received_at": START.isoformat()},
                ensure_ascii=False,
            )
        )
    data = ("\n".join(lines) + "\n").encode()
    with DecisionStore.open(f"sqlite:///{work / 'batch.db'}") as store:
        started = time.perf_counter()
        run(
            triage,
            validate(read_jsonl(io.BytesIO(data)), intake_rules_for(triage)),
            JsonlWriter(io.StringIO()),
            RejectsWriter(io.StringIO()),
            batch_size=1000,
            sinks=[store.save_each],
        )
        batch_seconds = time.perf_counter() - started
    return {
        "messages": count,
        "requests": summary.requests,
        "follow_ups": summary.follow_ups,
        "skipped": summary.skipped_total,
        "mail_seconds": mail_seconds,
        "mail_rate": count / mail_seconds,
        "batch_rate": count / batch_seconds,
    }


def bench_watch(triage: Triage, count: int, work: Path) -> dict[str, list[float]]:
    from imapclient import IMAPClient

    conf = subprocess.run(
        ["bash", str(ROOT / "scripts" / "start-test-dovecot.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not conf:
        raise SystemExit("no Dovecot: cannot measure the watch latency")
    port = int((Path(conf).parent / "port").read_text())
    policy = triage.sla
    assert policy is not None
    results: dict[str, list[float]] = {}
    try:
        for mode, idle in (("idle", True), ("poll-2s", False)):
            user = f"bench{mode.replace('-', '')}"
            with DecisionStore.open(f"sqlite:///{work / f'watch-{mode}.db'}") as store:
                desk = MailDesk(triage, store, MailRules(default_plan=policy.default_plan))
                config = ImapConfig(
                    host="127.0.0.1",
                    port=port,
                    security="plain",
                    user=user,
                    password="sevtriage-test",
                    idle=idle,
                    poll_seconds=2.0,
                )
                watcher = MailWatcher(desk, store, config)
                print(f"watch ({mode}): rules and model warmed up in {watcher.warm_up():.2f} s before connecting")
                stop = threading.Event()
                thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
                thread.start()
                while watcher.connections < 1:
                    time.sleep(0.05)
                time.sleep(0.5)
                latencies = []
                client = IMAPClient("127.0.0.1", port=port, ssl=False)
                client.login(user, "sevtriage-test")
                for i in range(count):
                    raw = _message(i * 10).as_bytes().replace(b"bench-", f"w{mode}-".encode())
                    message_id = f"w{mode}-{i * 10}@bench.example"
                    started = time.perf_counter()
                    client.append("INBOX", raw)
                    while store.mail_known(message_id) is None:
                        if time.perf_counter() - started > WAIT_LIMIT:
                            raise SystemExit(f"watch ({mode}): message {i} not stored after {WAIT_LIMIT} s")
                        time.sleep(0.005)
                    latencies.append(time.perf_counter() - started)
                client.logout()
                stop.set()
                thread.join(timeout=30)
                results[mode] = latencies
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "stop-test-dovecot.sh"), conf], check=False)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--watch", type=int, default=20, help="messages appended one by one in watch mode")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    triage = Triage.load()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result = bench_import(triage, args.messages, work) if args.messages else None
        if result is not None:
            print(
                f"mail import: {result['messages']:,} messages ({result['requests']:,} new, {result['follow_ups']:,} "
                f"follow-ups, {result['skipped']:,} skipped) in {result['mail_seconds']:.1f} s = "
                f"{result['mail_rate']:,.0f} messages/s"
            )
            print(
                f"baseline classify --store, same requests as JSONL: {result['batch_rate']:,.0f} requests/s "
                f"(mail import runs at {result['mail_rate'] / result['batch_rate']:.2f}x of it)"
            )
        if args.watch:
            watch = bench_watch(triage, args.watch, work)
            for mode, latencies in watch.items():
                ordered = sorted(latencies)
                p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
                print(
                    f"watch ({mode}): APPEND -> decision stored, {len(latencies)} messages: median "
                    f"{statistics.median(latencies) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, "
                    f"max {max(latencies) * 1000:.0f} ms"
                )
            idle, poll = statistics.median(watch["idle"]), statistics.median(watch["poll-2s"])
            print(f"IDLE is {poll / idle:.1f}x faster than polling every 2 s (median)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
