"""`scripts/test.sh` starts its own PostgreSQL, never someone else's, and leaves nothing running (issue 10, item 11).

The script runs for real with a one-test probe in place of the suite: the probe records which server it was given
and where that server keeps its data. A plain TCP listener stands on the port the script used to take for granted.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = textwrap.dedent(
    """
    import json, os
    from sqlalchemy import create_engine, text

    def test_probe():
        url = os.environ["SEVTRIAGE_TEST_POSTGRES_URL"]
        engine = create_engine(url)
        with engine.connect() as conn:
            data = conn.execute(text("SHOW data_directory")).scalar_one()
        engine.dispose()
        with open(os.environ["PROBE_OUT"], "w") as out:
            json.dump({"url": url, "data": data, "worker": os.environ.get("PYTEST_XDIST_WORKER")}, out)
    """
)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(not glob.glob("/usr/lib/postgresql/*/bin/initdb"), reason="no PostgreSQL server installed")
def test_test_sh_uses_a_fresh_server_on_a_free_port_and_stops_it(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SEVTRIAGE_TEST_POSTGRES_URL"}
    # No Dovecot either: the probe needs none (a non-empty value means "given").
    env.update(SEVTRIAGE_TEST_SKIP_INSTALL="1", SEVTRIAGE_TEST_DOVECOT="none", PROBE_OUT=str(tmp_path / "probe.json"))
    env["SEVTRIAGE_TEST_WORKERS"] = "2"  # the suite runs in worker processes, each given the same server
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    with socket.socket() as foreign:  # someone else's server on the old fixed port (or on any port)
        foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            foreign.bind(("127.0.0.1", 55432))
            foreign.listen()
        except OSError:
            pass  # something listens there already: just as foreign
        result = subprocess.run(
            ["bash", "scripts/test.sh", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_probe.py")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads((tmp_path / "probe.json").read_text(encoding="utf-8"))
    port = int(seen["url"].rsplit(":", 1)[1].split("/")[0])
    assert port != 55432
    assert seen["data"].startswith("/tmp/sevtriage-pg.")
    assert seen["worker"] in ("gw0", "gw1")
    # Stopped and deleted when the script ended.
    assert not _accepts(port)
    assert not Path(seen["data"]).exists()
