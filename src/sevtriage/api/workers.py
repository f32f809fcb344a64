"""`sevtriage serve --workers N`: N worker processes answering on one port, supervised by the parent.

How (and why this way):

- The parent reserves the port and starts N processes with multiprocessing's *spawn* method; each listens on
  the port with a socket of its own (SO_REUSEPORT) and runs a plain `uvicorn.Server` on it, and the kernel spreads
  new connections over the workers by a hash of the client's address and port. One listening socket shared by all
  workers (uvicorn's way) hands a connection to whichever worker accepts first: measured, 50 keep-alive
  connections opened at once went 29/21, 37/13 and once 50/0, and the busiest worker set the latency
  (benchmarks/README.md). The price: connections still waiting in the backlog of a worker that dies are reset.
  Where SO_REUSEPORT is missing, the workers share one socket. Spawn rather than fork, because the parent never
  loads rules or model (a forked copy of a loaded durable-rules engine and its threads is not safe), and every
  worker starts clean.
- Our own small supervisor instead of uvicorn's `workers=N`: uvicorn answers SIGHUP by restarting every worker,
  which bypasses `reload_engines` (and with it the refusal of broken files and the reload's record). Here SIGHUP
  to the parent is forwarded to one worker, which reloads through `reload_engines` exactly as `POST
  /v1/admin/reload` does; the others follow through the shared generation file (`sevtriage.api.generation`).
- What must be the same in every worker is settled in the parent before any starts (`prepare`): the store is
  migrated once (not N times at once), and the review desk's secret key is read or created once and handed to
  every worker, so a session cookie signed by one worker is valid on all of them.
- A worker that dies is started again; a worker that cannot start because of the settings or files (exit code
  `CONFIG_EXIT`) stops the whole server with its message. SIGTERM or SIGINT stop every worker (uvicorn's graceful
  shutdown), and a worker whose parent disappeared stops by itself, so no process is left behind.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from functools import partial
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from sevtriage.api.generation import SharedGeneration
from sevtriage.errors import SevtriageError
from sevtriage.settings import Settings

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

log = logging.getLogger("sevtriage.api")
CONFIG_EXIT = 2  # a worker could not start because of the settings or files: starting it again would not help
STOP_GRACE_SECONDS = 30.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def prepare(settings: Settings) -> Settings:
    """What every worker must share, done once in the parent: migrate the store, settle the desk's secret key."""
    if not settings.store_url:
        return settings
    from sevtriage.store import DecisionStore

    # Migrations run on open; N workers opening a fresh database at once would race to create the same tables.
    DecisionStore.open(settings.store_url).close()
    if settings.review_enabled:
        # Created here at most once (beside a SQLite store) and passed on, so a cookie works on every worker.
        return settings.model_copy(update={"secret_key": settings.resolved_secret_key()})
    return settings


def worker_app(settings: Settings, run_dir: str, log_level: str) -> FastAPI:
    """The app of one worker process (uvicorn calls this factory in the worker)."""
    from sevtriage.api.app import create_app

    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT)
    _stop_when_orphaned(os.getppid())
    try:
        return create_app(settings, shared=SharedGeneration(Path(run_dir)))
    except SevtriageError as error:
        log.error("worker %d cannot start: %s", os.getpid(), error)
        sys.exit(CONFIG_EXIT)


def _stop_when_orphaned(parent: int) -> None:
    """Stop this worker (gracefully, as on SIGTERM) if the supervising parent goes away, even by SIGKILL."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="sevtriage-parent-watch", daemon=True).start()


REUSE_PORT = hasattr(socket, "SO_REUSEPORT")


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` that other processes of this user may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _run_worker(config: uvicorn.Config, shared: socket.socket | None) -> None:
    import uvicorn

    if shared is None:  # a listening socket of this worker's own, in the port's SO_REUSEPORT group
        sock = _reuse_port_socket(config.host, config.port)
        sock.listen(config.backlog)
    else:
        sock = shared

    # Until the app installs its own SIGHUP handler (after loading), a forwarded SIGHUP must not end the worker:
    # the files it is loading are the newest anyway.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config.configure_logging()  # a spawned process starts with no logging set up
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Starts the workers, starts again those that die, forwards SIGHUP, and stops them all on SIGTERM/SIGINT."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket | None, count: int) -> None:
        self._config = config
        self._socket = sock
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._stop = threading.Event()
        self._hangups = 0
        self.exit_code = 0

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._workers if p.pid is not None]

    def _start(self) -> BaseProcess:
        process = self._context.Process(
            target=_run_worker, args=(self._config, self._socket), name="sevtriage-worker", daemon=False
        )
        process.start()
        return process

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping the workers", signal.Signals(signum).name)
        self._stop.set()

    def _on_hangup(self, _signum: int, _frame: FrameType | None) -> None:
        self._hangups += 1

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT (or a worker that cannot start); return the exit code."""
        previous = {
            sig: signal.signal(sig, handler)
            for sig, handler in (
                (signal.SIGTERM, self._on_stop),
                (signal.SIGINT, self._on_stop),
                (signal.SIGHUP, self._on_hangup),
            )
        }
        try:
            self._workers = [self._start() for _ in range(self._count)]
            log.info("supervisor %d started workers %s", os.getpid(), ", ".join(map(str, self.pids)))
            while not self._stop.is_set():
                if self._hangups:
                    self._hangups = 0
                    self._forward_hangup()
                multiprocessing.connection.wait([p.sentinel for p in self._workers], timeout=0.2)
                self._replace_dead()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def _forward_hangup(self) -> None:
        # The oldest live worker is the most likely to have finished loading; it reloads through the API's own
        # path (`reload_engines`) and announces the new generation to the others.
        for process in self._workers:
            if process.is_alive() and process.pid is not None:
                log.info("SIGHUP: worker %d reloads, the others follow", process.pid)
                os.kill(process.pid, signal.SIGHUP)
                return

    def _replace_dead(self) -> None:
        for index, process in enumerate(self._workers):
            if process.is_alive() or self._stop.is_set():
                continue
            process.join()
            if process.exitcode == CONFIG_EXIT:
                log.error("worker %s could not start (see above); stopping the server", process.pid)
                self.exit_code = CONFIG_EXIT
                self._stop.set()
                return
            log.warning("worker %s ended (exit code %s); starting another", process.pid, process.exitcode)
            self._workers[index] = self._start()

    def _stop_all(self) -> None:
        for process in self._workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("worker %s did not stop in %.0f s; killing it", process.pid, STOP_GRACE_SECONDS)
                process.kill()
                process.join()


def serve_workers(settings: Settings, workers: int, *, log_level: str, access_log: bool) -> int:
    """Run `workers` processes of the service on the settings' host and port; return the exit code."""
    import uvicorn

    settings = prepare(settings)
    run_dir = tempfile.mkdtemp(prefix="sevtriage-serve-")
    try:
        SharedGeneration(Path(run_dir)).begin()
        config = uvicorn.Config(
            partial(worker_app, settings, run_dir, log_level),
            factory=True,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            access_log=access_log,
        )
        if not REUSE_PORT:
            with config.bind_socket() as sock:
                return Supervisor(config, sock, workers).run()
        # Bound but not listening: it holds the port (and resolves port 0) while only the workers accept on it.
        with _reuse_port_socket(settings.host, settings.port) as holder:
            config.port = holder.getsockname()[1]
            log.info("%d workers listen on http://%s:%d (SO_REUSEPORT)", workers, settings.host, config.port)
            return Supervisor(config, None, workers).run()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
