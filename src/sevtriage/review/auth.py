"""Specialists' accounts and sessions: argon2 password hashes, a signed session cookie, CSRF tokens.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106). The session is a cookie signed with the
service's secret key (itsdangerous); it carries the specialist's name and a per-session CSRF token that every
form sends back. No password or hash ever leaves this module except to the store.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from sevtriage.errors import InputError
from sevtriage.store import DecisionStore, User

SESSION_COOKIE = "sevtriage_review"
SESSION_MAX_AGE = 12 * 3600  # one working day and some; then sign in again
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

_hasher = PasswordHasher()
# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InputError(
            f"a specialist's name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; "
            f"got {name!r}"
        )
    return name


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password must have at least {MIN_PASSWORD} characters; this one has {len(password)}")
    return _hasher.hash(password)


def create_user(store: DecisionStore, name: str, password: str) -> User:
    return store.add_user(check_name(name), hash_password(password))


def change_password(store: DecisionStore, name: str, password: str) -> None:
    store.set_password(check_name(name), hash_password(password))


def authenticate(store: DecisionStore, name: str, password: str) -> User | None:
    """The active user with this name and password, else None (whatever was wrong)."""
    user = store.get_user(name) if _NAME.match(name) else None
    try:
        _hasher.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        # argon2 parameters grew since this hash was made; store the stronger one while we know the password.
        store.set_password(user.name, _hasher.hash(password))
    return user


@dataclass(frozen=True, slots=True)
class Session:
    """What the session cookie carries: the signed-in session's id (None before sign-in) and the CSRF token.

    Who is signed in is looked up in the store by the session id, so signing out or disabling an account ends
    the session on the server, whatever copies of the cookie exist.
    """

    sid: str | None
    csrf: str

    @classmethod
    def fresh(cls, signed_in: bool = False) -> Session:
        return cls(sid=secrets.token_urlsafe(32) if signed_in else None, csrf=secrets.token_urlsafe(24))

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), (token or "").encode())


class SessionCodec:
    """Signs sessions into cookie values and reads them back; a tampered or expired cookie reads as None."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="sevtriage-review-session")

    def dumps(self, session: Session) -> str:
        return self._serializer.dumps({"s": session.sid, "c": session.csrf})

    def loads(self, value: str | None) -> Session | None:
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=SESSION_MAX_AGE)
        except BadSignature:  # also covers SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        sid = data.get("s")
        return Session(sid=sid if isinstance(sid, str) else None, csrf=data["c"])


class SignInThrottle:
    """Refuses sign-in for a name after `limit` failures within `window`, until the oldest of them ages out.

    Keyed by the name, not the address (behind a proxy every address is the proxy's): it stops password guessing
    against an account at the price of letting someone lock that account out for a while. Kept in memory, per
    service process.
    """

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def wait(self, name: str, now: datetime) -> timedelta | None:
        """How long `name` must wait before trying again, or None when it may try now."""
        with self._lock:
            recent = self._recent(name.lower(), now)
            if len(recent) < self.limit:
                return None
            return recent[0] + self.window - now

    def failed(self, name: str, now: datetime) -> None:
        with self._lock:
            self._recent(name.lower(), now).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name.lower(), None)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] + self.window <= now:
            times.popleft()
        return times
