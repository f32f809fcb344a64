"""Failed sign-ins kept in the store: one count for every service process (`serve --workers N`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from sevtriage.review.auth import SignInGuard, StoredSignInThrottle
from sevtriage.store import DecisionStore
from sevtriage.store.schema import sign_in_failures
from tests.store.test_store import NOW


def _rows(store: DecisionStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sign_in_failures)).scalar_one())


def test_the_stored_throttle_counts_like_the_one_in_memory(store: DecisionStore) -> None:
    throttle = StoredSignInThrottle(store, "name", limit=3, window=timedelta(minutes=10))
    for minute in (0, 1, 2):
        assert throttle.wait("alice", NOW + timedelta(minutes=minute)) is None
        throttle.failed("Alice", NOW + timedelta(minutes=minute))
    assert throttle.wait("ALICE", NOW + timedelta(minutes=3)) == timedelta(minutes=7)
    assert throttle.wait("bob", NOW + timedelta(minutes=3)) is None
    assert throttle.wait("alice", NOW + timedelta(minutes=10)) is None  # the first failure aged out
    throttle.failed("alice", NOW + timedelta(minutes=10))
    assert throttle.wait("alice", NOW + timedelta(minutes=10)) == timedelta(minutes=1)
    throttle.succeeded("alice")
    assert throttle.wait("alice", NOW + timedelta(minutes=10)) is None


def test_two_processes_share_one_count(url: str) -> None:
    # Two stores opened on one database stand for two worker processes.
    with DecisionStore.open(url) as one, DecisionStore.open(url) as other:
        first, second = SignInGuard.in_store(one, per_name=4), SignInGuard.in_store(other, per_name=4)
        for i in range(4):
            (first if i % 2 else second).failed("alice", "192.0.2.1", NOW + timedelta(seconds=i))
        refusal = first.refusal("alice", "192.0.2.7", NOW + timedelta(seconds=5))
        assert refusal is not None and refusal.by == "name"
        assert second.refusal("bob", "192.0.2.7", NOW + timedelta(seconds=5)) is None
        # The name's count is by name and the address's by address: the same words do not mix.
        assert second.refusal("192.0.2.1", "192.0.2.9", NOW + timedelta(seconds=5)) is None


def test_old_failures_are_swept_out_so_the_table_stays_small(store: DecisionStore) -> None:
    throttle = StoredSignInThrottle(store, "address", limit=3, window=timedelta(minutes=15))
    for i in range(200):
        throttle.failed(f"198.51.100.{i}", NOW + timedelta(seconds=i))
    assert _rows(store) == 200
    throttle.failed("203.0.113.1", NOW + timedelta(hours=1))  # every earlier failure is older than the window
    assert _rows(store) == 1
