"""`sevtriage mail watch`: triage new mail of an IMAP folder as it arrives (IMAPClient).

The watcher logs in, selects the folder and handles every message after the last UID it remembers, in UID order,
in small batches: each batch goes through `MailDesk` into the store, then each message is marked (IMAP keywords
``$sev1`` .. ``$sev4``, ``$needs-review``, ``$skipped``, ``$rejected``, or a move to a folder), then the last UID
is remembered in the store. Then it waits: IDLE (RFC 2177) where the server has it, polling otherwise.

Restart-safe: the store remembers the folder's UIDVALIDITY and the last UID handled. A restart or a dropped
connection resumes after that UID; a message handled but not yet remembered (a crash between the two) is found
again by its Message-ID and skipped as already processed, so nothing is processed twice and nothing is skipped.
If UIDVALIDITY changed (the folder was rebuilt; RFC 3501 2.3.1.1), the whole folder is read again and the
Message-IDs keep what was handled from being handled twice. A lost connection is retried with back-off
(1 s doubling up to the configured maximum), forever until stopped.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sevtriage.errors import ConfigError, Problem
from sevtriage.intake.mail import Mail, parse_mail
from sevtriage.intake.mail_files import RawMail
from sevtriage.intake.mail_import import MailDesk, MailOutcome
from sevtriage.types import Ticket

log = logging.getLogger("sevtriage.mail")

Mark = Literal["keywords", "folders", "none"]
Security = Literal["ssl", "starttls", "plain"]
# The connection errors a watcher outlives: the socket, TLS, and imaplib's "the server hung up" (abort).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, socket.timeout, ssl.SSLError, imaplib.IMAP4.abort)


class CursorStore(Protocol):
    """Where the watcher keeps its place (the decision store is one)."""

    def imap_cursor(self, mailbox: str) -> tuple[int, int] | None: ...

    def save_imap_cursor(self, mailbox: str, uidvalidity: int, last_uid: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ImapConfig:
    """How to reach the mailbox and how to mark what was handled."""

    host: str
    user: str
    password: str = field(repr=False)
    port: int = 993
    security: Security = "ssl"
    folder: str = "INBOX"
    mark: Mark = "keywords"
    # Target folders for mark="folders": keys sev1..sev4, needs-review, skipped, rejected; a missing key = stay.
    folders: dict[str, str] = field(default_factory=dict)
    poll_seconds: float = 30.0
    idle_seconds: float = 300.0
    backoff_max_seconds: float = 300.0
    timeout_seconds: float = 60.0
    # Messages fetched, triaged and remembered together.
    batch: int = 50
    # Use IDLE when the server offers it (False: always poll, e.g. behind a proxy that cuts idle connections).
    idle: bool = True
    # PEM file of the CA certificate(s) that the server's certificate must chain to ("ssl" and "starttls");
    # None: the system's trusted CAs. The host name is checked against the certificate either way.
    ca_file: str | None = None

    @property
    def key(self) -> str:
        """The folder's name in the store's cursor table."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"


def mark_for(outcome: MailOutcome) -> str:
    """The key of the mark an outcome earns: ``sev1``..``sev4``, ``needs-review``, ``skipped`` or ``rejected``.

    A request that needs review goes to the review folder whatever its suggested severity; a response belongs to
    its request's thread and stays where it is (``""``).
    """
    if outcome.kind == "rejected":
        return "rejected"
    if outcome.kind == "skipped":
        return "skipped"
    if outcome.kind == "response":
        return ""
    if outcome.needs_review:
        return "needs-review"
    return f"sev{int(outcome.severity)}" if outcome.severity is not None else "needs-review"


def keywords_for(outcome: MailOutcome) -> list[bytes]:
    """IMAP keywords (RFC 3501 flag-keyword atoms) for an outcome: the severity and, when due, ``$needs-review``."""
    flags: list[bytes] = []
    if outcome.kind in ("request", "follow_up"):
        if outcome.severity is not None:
            flags.append(f"$sev{int(outcome.severity)}".encode())
        if outcome.needs_review or outcome.severity is None:
            flags.append(b"$needs-review")
    elif outcome.kind == "skipped":
        flags.append(b"$skipped")
    elif outcome.kind == "rejected":
        flags.append(b"$rejected")
    return flags


class MailWatcher:
    """Watch one IMAP folder and triage what arrives (see the module docstring).

    `connect` makes a logged-in client (tests and `sevtriage mail watch` use `connect_imap`); `on_batch` is told
    of each handled batch (the CLI prints it).
    """

    def __init__(
        self,
        desk: MailDesk,
        cursors: CursorStore,
        config: ImapConfig,
        *,
        connect: Callable[[ImapConfig], Any] | None = None,
        on_batch: Callable[[Sequence[MailOutcome]], None] | None = None,
    ) -> None:
        self.desk = desk
        self.cursors = cursors
        self.config = config
        self.connect = connect or connect_imap
        self.on_batch = on_batch
        self.connections = 0
        self.reconnects = 0
        self.warmed = False

    def warm_up(self) -> float:
        """Parse and classify one made-up message (nothing is stored); return the seconds it took.

        The first message a fresh process handles pays for lazy set-up in the parser, the rule engine and the
        model; doing it before the first IDLE keeps that out of the first real message's latency.
        """
        started = time.perf_counter()
        sample = (
            b"From: warm-up@sevtriage.invalid\r\nTo: support@sevtriage.invalid\r\nSubject: Export fails\r\n"
            b"Message-ID: <warm-up@sevtriage.invalid>\r\nDate: Sat, 05 Dec 2026 08:00:00 +0000\r\n\r\n"
            b"The payroll export fails with error 500.\r\n"
        )
        parsed = parse_mail(sample, "warm-up", arrived_at=datetime.now(UTC))
        if isinstance(parsed, Mail):
            self.desk.triage.classify(Ticket(id="warm-up", subject=parsed.subject, body=parsed.body))
        self.warmed = True
        return time.perf_counter() - started

    # -- the loop ---------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, *, once: bool = False) -> None:
        """Handle new mail until `stop` is set (or, with `once`, until the folder has been read once)."""
        stop = stop or threading.Event()
        if not self.warmed:
            log.info("loading and warming up the rules and the model before watching ...")
            log.info("warmed up in %.1f s", self.warm_up())
        backoff = 1.0
        while not stop.is_set():
            client: Any = None
            try:
                client = self.connect(self.config)
                self.connections += 1
                backoff = 1.0
                self._session(client, stop, once)
                if once:
                    return
            except CONNECTION_ERRORS as error:
                if once:
                    raise
                self.reconnects += 1
                log.warning("IMAP connection to %s lost (%s); reconnecting in %.0f s", self.config.host, error, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, self.config.backoff_max_seconds)
            finally:
                if client is not None:
                    _close(client)

    def _session(self, client: Any, stop: threading.Event, once: bool) -> None:
        selected = client.select_folder(self.config.folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        cursor = self.cursors.imap_cursor(self.config.key)
        last = 0
        if cursor is not None and cursor[0] == uidvalidity:
            last = cursor[1]
        elif cursor is not None:
            log.warning(
                "UIDVALIDITY of %s changed (%s -> %s): reading the folder again; messages handled before are "
                "recognised by their Message-ID",
                self.config.key,
                cursor[0],
                uidvalidity,
            )
        if self.config.mark == "folders":
            self._ensure_folders(client)
        idle = self.config.idle and b"IDLE" in client.capabilities()
        while not stop.is_set():
            last = self._catch_up(client, uidvalidity, last, stop)
            if once or stop.is_set():
                return
            if idle:
                self._idle(client, stop)
            else:
                stop.wait(self.config.poll_seconds)
                client.noop()

    def _idle(self, client: Any, stop: threading.Event) -> None:
        """Wait for the server to announce anything (or the IDLE period to end, or `stop`); a search follows.

        Any untagged response ends the wait: EXISTS/RECENT is the usual one, and a needless search costs a
        round trip, while a missed announcement costs up to `idle_seconds` (RFC 2177 lets the server send any
        mailbox update during IDLE).
        """
        client.idle()
        try:
            # Mail that arrived after the last search is announced as IDLE starts (Dovecot sends "+ idling" and
            # "* n EXISTS" in one write). Reading "+ idling" through imaplib's buffered reader takes the EXISTS
            # line into Python's buffer with it, where `idle_check`, which polls the socket, never sees it: that
            # was the stall of issue 11 until the next renewal or the server's keepalive (Dovecot: 2 min).
            if _announced(client) or _received_lines(client, self.config.timeout_seconds):
                return
            deadline = time.monotonic() + self.config.idle_seconds
            # Short checks, so that `stop` is noticed within a second.
            while time.monotonic() < deadline and not stop.is_set():
                asked = time.monotonic()
                responses = client.idle_check(timeout=1.0)
                if any(r[0] == b"BYE" for r in responses if isinstance(r, tuple) and r):
                    raise imaplib.IMAP4.abort("the server said BYE")
                if responses:
                    return
                if time.monotonic() - asked < 0.9:
                    # The socket was readable yet gave no line: the end of the stream (IMAPClient's idle_check
                    # returns [] on EOF). A server that died without BYE; waiting on would spin until the deadline.
                    raise imaplib.IMAP4.abort("the server closed the connection")
        finally:
            client.idle_done()

    def _catch_up(self, client: Any, uidvalidity: int, last: int, stop: threading.Event) -> int:
        """Handle every message after UID `last` until a search finds nothing new; return the new last UID.

        New mail is announced (EXISTS) in the answer to whatever command runs when the server notices it:
        the FETCH and STORE of a batch, or the SEARCH itself, after the search has looked (Dovecot reports mail
        it learns of at the end of a command). So an empty search is believed only if no EXISTS or RECENT came
        with it; the server announces each message once, so a stale announcement costs one more search at most.
        """
        while not stop.is_set():
            _announced(client)  # what was announced before this search, the search sees
            # "n:*" always includes the highest UID even when it is below n (RFC 3501 6.4.8), hence the filter.
            uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
            if not uids:
                if _announced(client):
                    continue
                break
            last = self._handle(client, uidvalidity, uids, stop, last)
        return last

    def _handle(self, client: Any, uidvalidity: int, uids: list[int], stop: threading.Event, last: int) -> int:
        for start in range(0, len(uids), self.config.batch):
            if stop.is_set():
                break
            chunk = uids[start : start + self.config.batch]
            fetched = client.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE"])
            items = list(self._raw(chunk, fetched))
            outcomes = list(self.desk.process(items))
            by_where = {o.where: o for o in outcomes}
            for uid in chunk:
                outcome = by_where.get(self._where(uid))
                if outcome is not None:
                    self._mark(client, uid, outcome)
            # Only now: a crash before this line hands the batch to the next run, which skips what it stored.
            self.cursors.save_imap_cursor(self.config.key, uidvalidity, chunk[-1])
            last = chunk[-1]
            if self.on_batch is not None:
                self.on_batch(outcomes)
        return last

    def _where(self, uid: int) -> str:
        return f"{self.config.folder} UID {uid}"

    def _raw(self, chunk: Sequence[int], fetched: dict[int, dict[bytes, Any]]) -> Iterator[RawMail]:
        for uid in chunk:
            data = fetched.get(uid)
            if data is None:
                continue  # expunged between SEARCH and FETCH: nothing to handle
            body = data.get(b"BODY[]") or b""
            arrived = data.get(b"INTERNALDATE")
            yield RawMail(self._where(uid), bytes(body), arrived if isinstance(arrived, datetime) else None)

    # -- marking ----------------------------------------------------------------------------------------------
    def _mark(self, client: Any, uid: int, outcome: MailOutcome) -> None:
        if self.config.mark == "none":
            return
        if outcome.skip_kind == "already_processed" and outcome.request_id is not None:
            outcome = self._stored_outcome(outcome)
        if self.config.mark == "keywords":
            flags = keywords_for(outcome)
            if flags:
                client.add_flags([uid], flags)
            return
        target = self.config.folders.get(mark_for(outcome))
        if target:
            if b"MOVE" in client.capabilities():
                client.move([uid], target)
            else:
                client.copy([uid], target)
                client.add_flags([uid], [b"\\Deleted"])
                if b"UIDPLUS" in client.capabilities():
                    client.uid_expunge([uid])
                else:
                    client.expunge()

    def _stored_outcome(self, outcome: MailOutcome) -> MailOutcome:
        """A message handled before a crash but not marked: mark it as its request stands in the store."""
        getter = getattr(self.desk.store, "get", None)
        if getter is None:
            return outcome
        try:
            stored = getter(outcome.request_id)
        except Exception:
            return outcome
        severity = getattr(stored, "severity", None)
        needs_review = bool(getattr(stored, "suggested", None) and stored.suggested.needs_review)
        return MailOutcome(
            outcome.where,
            "request",
            outcome.message_id,
            request_id=outcome.request_id,
            severity=severity,
            needs_review=needs_review,
            subject=outcome.subject,
        )

    def _ensure_folders(self, client: Any) -> None:
        for folder in sorted(set(self.config.folders.values())):
            if not client.folder_exists(folder):
                client.create_folder(folder)


def connect_imap(config: ImapConfig, client_class: type[Any] | None = None) -> Any:
    """A logged-in IMAPClient for `config` (TLS from the start, STARTTLS, or plain for a loopback test server).

    `client_class` is IMAPClient or a subclass of it (the tests use one that acts at chosen moments). A server
    certificate that does not verify, an unusable `ca_file` or a server without STARTTLS raise `ConfigError`:
    trying again would not help.
    """
    from imapclient import IMAPClient

    context = tls_context(config) if config.security != "plain" else None
    client = None
    try:
        client = (client_class or IMAPClient)(
            config.host,
            port=config.port,
            ssl=config.security == "ssl",
            ssl_context=context,
            timeout=config.timeout_seconds,
            use_uid=True,
        )
        # Aware INTERNALDATE values: the arrival instant must not depend on this machine's zone.
        client.normalise_times = False
        if config.security == "starttls":
            if b"STARTTLS" not in client.capabilities():
                raise _config_error(
                    config,
                    f"the IMAP server {config.host}:{config.port} does not offer STARTTLS; set imap_security to "
                    "'ssl' (and imap_port to its IMAPS port, usually 993)",
                )
            client.starttls(context)
        client.login(config.user, config.password)
    except ssl.SSLCertVerificationError as error:
        if client is not None:
            _close(client)
        where = f"from {config.ca_file!r} (imap_ca_file)" if config.ca_file else "the system trusts"
        raise _config_error(
            config,
            f"the certificate of the IMAP server {config.host}:{config.port} does not verify against the CAs "
            f"{where}: {error.verify_message or error.reason}; set imap_ca_file to the PEM file of the CA that "
            "signed it, or make imap_host a name the certificate is for",
        ) from None
    except BaseException:
        if client is not None:
            _close(client)
        raise
    return client


def tls_context(config: ImapConfig) -> ssl.SSLContext:
    """The TLS settings for the server: certificate and host name verified, against `ca_file` when given."""
    try:
        return ssl.create_default_context(cafile=config.ca_file)
    except (OSError, ssl.SSLError) as error:
        raise _config_error(
            config,
            f"imap_ca_file must be a readable PEM file of CA certificates; got {config.ca_file!r} "
            f"({getattr(error, 'strerror', None) or error})",
        ) from None


def _config_error(config: ImapConfig, message: str) -> ConfigError:
    """A settings problem, placed at the mailbox it concerns (user@host:port/folder)."""
    return ConfigError(Problem(file=config.key, line=None, message=message))


def _announced(client: Any) -> bool:
    """Whether new mail was announced (EXISTS or RECENT) in the answer to a command since the last look.

    imaplib files untagged responses that arrive with a command's answer under their name, and IMAPClient takes
    out only the ones it asked for (SEARCH, FETCH, ...), so the announcements of new mail wait there.
    """
    pending = getattr(getattr(client, "_imap", None), "untagged_responses", None)
    if not isinstance(pending, dict):
        return False
    exists = pending.pop("EXISTS", None)
    recent = pending.pop("RECENT", None)
    return bool(exists or recent)


def _received_lines(client: Any, timeout: float) -> list[bytes]:
    """The lines the server has sent already, read without waiting (in IDLE, where a command cannot ask).

    They may sit in imaplib's read buffer, where polling the socket cannot see them. A BYE among them is a
    lost connection.
    """
    imap = getattr(client, "_imap", None)
    if imap is None:
        return []
    sock = client.socket()
    lines: list[bytes] = []
    sock.setblocking(False)
    try:
        while True:
            try:
                line = imap.readline()
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            if not line:
                break
            if not line.endswith(b"\r\n"):
                # Half a line: the rest is on its way, wait for it rather than leave imaplib out of step.
                sock.settimeout(timeout)
                line += imap.readline()
            lines.append(line)
    finally:
        sock.settimeout(timeout)
    if any(line.startswith(b"* BYE") for line in lines):
        raise imaplib.IMAP4.abort("the server said BYE")
    return lines


def _close(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # the connection may be gone already; nothing to tidy up then
        with contextlib.suppress(Exception):
            client.shutdown()
