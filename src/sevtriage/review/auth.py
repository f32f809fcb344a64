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
from collections import OrderedDict, deque
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


def create_user(store: DecisionStore, name: str, password: str, *, role: str = "specialist") -> User:
    return store.add_user(check_name(name), hash_password(password), role=role)


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
    """Refuses sign-in for a key after `limit` failures within `window`, until the oldest of them ages out.

    Kept in memory, per service process, for at most `max_keys` keys: the least recently failed key is forgotten
    first, and keys whose failures all aged out are swept away whenever a failure is recorded. So a flood of
    fresh names costs bounded memory (issue 10: an unbounded dict kept every name it ever saw).
    """

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15), max_keys: int = 10_000) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1; got {max_keys}")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        # Oldest failure first within a key; least recently failed key first in the dict.
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._failures)

    def wait(self, key: str, now: datetime) -> timedelta | None:
        """How long `key` must wait before trying again, or None when it may try now."""
        with self._lock:
            times = self._failures.get(key.lower())
            if times is None:
                return None
            _age_out(times, now - self.window)
            if len(times) < self.limit:
                return None
            return times[0] + self.window - now

    def failed(self, key: str, now: datetime) -> None:
        with self._lock:
            key = key.lower()
            times = self._failures.pop(key, None) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[key] = times  # now the most recent
            self._sweep(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key.lower(), None)

    def _sweep(self, now: datetime) -> None:
        oldest = now - self.window
        # The front holds the least recently failed keys: once one has a live failure, later ones do too.
        while self._failures:
            key, times = next(iter(self._failures.items()))
            if times and times[-1] > oldest and len(self._failures) <= self.max_keys:
                break
            del self._failures[key]


class StoredSignInThrottle:
    """`SignInThrottle` kept in the decision store, so that every service process counts against one limit.

    With `serve --workers N` an in-memory throttle would give a guesser N times the tries, one set per worker.
    Rows older than `window` are swept out whenever a failure is recorded, which bounds the table the way
    `max_keys` bounds the in-memory one.
    """

    def __init__(self, store: DecisionStore, kind: str, limit: int, window: timedelta) -> None:
        self.store = store
        self.kind = kind
        self.limit = limit
        self.window = window

    def _key(self, key: str) -> str:
        return f"{self.kind}:{key.lower()}"

    def wait(self, key: str, now: datetime) -> timedelta | None:
        """How long `key` must wait before trying again, or None when it may try now."""
        times = self.store.sign_in_failures(self._key(key), now - self.window, limit=self.limit)
        if len(times) < self.limit:
            return None
        return times[0] + self.window - now

    def failed(self, key: str, now: datetime) -> None:
        self.store.add_sign_in_failure(self._key(key), now, forget_before=now - self.window)

    def succeeded(self, key: str) -> None:
        self.store.clear_sign_in_failures(self._key(key))


def _age_out(times: deque[datetime], oldest: datetime) -> None:
    while times and times[0] <= oldest:
        times.popleft()


FAILURES_PER_NAME = 5
FAILURES_PER_ADDRESS = 30
SIGN_IN_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a sign-in is refused before its password is checked: too many failures for the name or the address."""

    by: str  # "name" or "address"
    wait: timedelta


class SignInGuard:
    """Sign-in throttles by name and by client address.

    By name: stops password guessing against one account (at the price of letting someone lock that account out
    for a while). By address: stops one client from trying fresh names (which the per-name count never sees) and
    from keeping the password check busy. Behind a reverse proxy the address is the proxy's unless the service
    trusts the proxy's X-Forwarded-For (uvicorn's --forwarded-allow-ips), so the per-address limit is higher.
    """

    def __init__(
        self,
        per_name: int = FAILURES_PER_NAME,
        per_address: int = FAILURES_PER_ADDRESS,
        window: timedelta = SIGN_IN_WINDOW,
        max_keys: int = 10_000,
    ) -> None:
        self.by_name: SignInThrottle | StoredSignInThrottle = SignInThrottle(per_name, window, max_keys)
        self.by_address: SignInThrottle | StoredSignInThrottle = SignInThrottle(per_address, window, max_keys)

    @classmethod
    def in_store(
        cls,
        store: DecisionStore,
        per_name: int = FAILURES_PER_NAME,
        per_address: int = FAILURES_PER_ADDRESS,
        window: timedelta = SIGN_IN_WINDOW,
    ) -> SignInGuard:
        """The same limits, counted in the decision store: one count for all service processes."""
        guard = cls(per_name, per_address, window)
        guard.by_name = StoredSignInThrottle(store, "name", per_name, window)
        guard.by_address = StoredSignInThrottle(store, "address", per_address, window)
        return guard

    def refusal(self, name: str, address: str, now: datetime) -> Refusal | None:
        wait = self.by_address.wait(address, now)
        if wait is not None:
            return Refusal("address", wait)
        wait = self.by_name.wait(name, now)
        return Refusal("name", wait) if wait is not None else None

    def failed(self, name: str, address: str, now: datetime) -> None:
        self.by_name.failed(name, now)
        self.by_address.failed(address, now)

    def succeeded(self, name: str) -> None:
        # The address keeps its count: one right password must not reset a flood of wrong ones.
        self.by_name.succeeded(name)
