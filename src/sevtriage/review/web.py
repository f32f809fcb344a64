"""The review desk in the service: sign-in, the queue, the request view, actions, the agreement page.

Plain server-rendered pages (Jinja2 with autoescaping, so a request's `<script>` shows as text) and a few JSON
routes for scripts. Every page and JSON route needs a signed-in specialist; every form carries the session's
CSRF token; the pages send a Content-Security-Policy that allows no inline script at all.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

import anyio
import anyio.to_process
import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException as StarletteHTTPException

from sevtriage.api.errors import error_response
from sevtriage.errors import ConfigError, InputError, Problem, SevtriageError
from sevtriage.review.auth import (
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    Session,
    SessionCodec,
    SignInGuard,
    authenticate,
)
from sevtriage.review.desk import ReviewDesk
from sevtriage.review.present import explain_reason, highlight, local_time, short_time, sla_badge, time_left
from sevtriage.review.whatif import (
    CANDIDATE_NAME,
    MAX_CANDIDATE_BYTES,
    WhatIf,
    read_candidate,
    rule_rows,
    run_whatif,
)
from sevtriage.store import Action, DecisionStore, NotFound, QueueFilter, ReviewConflict, StoredRequest, User
from sevtriage.types import Severity
from sevtriage.watch.board import LISTINGS, SlaBoard

if TYPE_CHECKING:
    from sevtriage.rules.rulebook import Rulebook
    from sevtriage.rules.stage import RuleStage
    from sevtriage.settings import Settings

log = logging.getLogger(__name__)
PREFIX = "/review"
# Changed verdicts listed on the Rules page (the count says how many more there are).
SHOWN_CHANGES = 200
PASSWORD_CHECKS_AT_ONCE = 2
_REFUSED_FOR = {"name": "for this name", "address": "from this address"}
_HERE = Path(__file__).resolve().parent
SEVERITY_NAMES = {int(s): s.label for s in Severity}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def mount_review(app: FastAPI, settings: Settings) -> None:
    """Open the store named by `settings.store_url`, store every classification, and serve the review desk."""
    from sevtriage.sla import SlaPolicy

    if not settings.store_url:
        raise ConfigError(Problem("settings", None, "the review desk needs a decision store; set store_url"))
    desk = ReviewDesk(DecisionStore.open(settings.store_url), SlaPolicy.load(settings.sla_path))
    # Failed sign-ins are counted in the store, so that several service processes share one limit.
    guard = SignInGuard.in_store(desk.store)
    install(app, desk, secret_key=settings.resolved_secret_key(), guard=guard, sla_path=settings.sla_path)


def install(
    app: FastAPI,
    desk: ReviewDesk,
    *,
    secret_key: str,
    guard: SignInGuard | None = None,
    sla_path: Path | None = None,
) -> None:
    """Wire an already built desk into `app` (tests use it to give the desk their own clock or throttles).

    `sla_path`: the SLA policy file the Rules page's what-if counts the load with (None: the bundled one).
    """
    app.state.review_desk = desk
    # The SLA routes (/v1/sla/...) and the queue's SLA badges read the same store, policy and clock.
    app.state.sla_board = SlaBoard(desk.store, desk.policy, clock=desk.clock)
    if not isinstance(getattr(app.state, "decision_sinks", None), list):
        app.state.decision_sinks = []
    app.state.decision_sinks.append(desk.sink)
    app.include_router(_Routes(desk, SessionCodec(secret_key), guard or SignInGuard(), sla_path).router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=_HERE / "static"), name="review-static")


def _templates(desk: ReviewDesk) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = lambda instant: local_time(instant, desk.timezone)
    env.filters["short"] = lambda instant: short_time(instant, desk.timezone)
    env.globals["zone"] = str(desk.timezone)
    env.filters["left"] = lambda instant: time_left(instant, desk.clock())
    env.filters["sevname"] = lambda value: SEVERITY_NAMES.get(int(value), "?") if value is not None else "none"
    env.filters["urlid"] = lambda value: quote(str(value), safe="")
    env.filters["reasontext"] = explain_reason
    env.filters["pct"] = lambda value: f"{value * 100:.0f} %" if value is not None else "—"
    env.globals["severities"] = [(int(s), s.label) for s in Severity]
    return Jinja2Templates(env=env)


def _filter_from(params: dict[str, str]) -> QueueFilter:
    raw = params.get("severity", "")
    severity: int | Literal["none"] | None = None
    if raw == "none":
        severity = "none"
    elif raw:
        if raw not in {"1", "2", "3", "4"}:
            raise InputError(f"the severity filter must be one of 1, 2, 3, 4, none; got {raw!r}")
        severity = int(raw)
    return QueueFilter(
        severity=severity,
        plan=params.get("plan") or None,
        reason=params.get("reason") or None,
        language=params.get("language") or None,
    )


def _with_chosen(facets: dict[str, list[str]], where: QueueFilter) -> dict[str, list[str]]:
    """The filter menus, keeping a chosen value that no waiting request has any more (so the menu still shows it)."""
    chosen = {"plan": where.plan, "reason": where.reason, "language": where.language}
    merged: dict[str, list[str]] = {}
    for key, values in facets.items():
        picked = chosen.get(key)
        merged[key] = sorted({*values, picked}) if picked else list(values)
    return merged


def _filter_query(where: QueueFilter) -> str:
    pairs = {
        "severity": str(where.severity) if where.severity is not None else "",
        "plan": where.plan or "",
        "reason": where.reason or "",
        "language": where.language or "",
    }
    kept = {k: v for k, v in pairs.items() if v}
    return urlencode(kept)


def _safe_next(target: str | None) -> str:
    # Only back into the review desk: an open redirect would let a link sign someone in and send them elsewhere.
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/queue"


def request_json(item: StoredRequest) -> dict[str, Any]:
    """The JSON form of a stored request (the review desk's API)."""
    return {
        "id": item.id,
        "subject": item.subject,
        "body": item.body,
        "fields": item.fields,
        "plan": item.plan,
        "received_at": item.received_at.isoformat() if item.received_at else None,
        "language": item.language,
        "status": item.status,
        "suggested": item.suggested.to_dict(),
        "final_severity": int(item.final_severity) if item.final_severity is not None else None,
        "severity": int(item.severity) if item.severity is not None else None,
        "deadlines": item.deadlines.to_dict() if item.deadlines else None,
        "reviewed_by": item.reviewed_by,
        "reviewed_at": item.reviewed_at.isoformat() if item.reviewed_at else None,
        "version": item.version,
        "history": [
            {
                "actor": a.actor,
                "at": a.at.isoformat(),
                "kind": a.kind,
                "from": int(a.from_severity) if a.from_severity is not None else None,
                "to": int(a.to_severity) if a.to_severity is not None else None,
                "reason": a.reason,
            }
            for a in item.history
        ],
    }


def json_error(status: int, code: str, message: str) -> JSONResponse:
    """The service's one JSON error shape (`sevtriage.api.errors`), for the review desk's JSON routes."""
    return error_response(status, code, message)


class _Routes:
    """The desk's routes; one instance per app, holding the desk, the session codec and the templates."""

    def __init__(
        self, desk: ReviewDesk, sessions: SessionCodec, guard: SignInGuard, sla_path: Path | None = None
    ) -> None:
        self.desk = desk
        self.sla_path = sla_path
        self._whatifs: anyio.CapacityLimiter | None = None
        self.sessions = sessions
        self.guard = guard
        # Password checks run in worker threads, at most this many at once: argon2 is slow on purpose and must
        # neither block the event loop nor take every worker thread the other routes need.
        self._checks: anyio.CapacityLimiter | None = None
        self.templates = _templates(desk)
        self.board = SlaBoard(desk.store, desk.policy, clock=desk.clock)
        r = self.router = APIRouter(prefix=PREFIX, include_in_schema=False)
        r.add_api_route("", self.home, methods=["GET"])
        r.add_api_route("/", self.home, methods=["GET"])
        r.add_api_route("/login", self.login_form, methods=["GET"])
        r.add_api_route("/login", self.login, methods=["POST"])
        r.add_api_route("/logout", self.logout, methods=["POST"])
        r.add_api_route("/queue", self.queue, methods=["GET"])
        r.add_api_route("/agreement", self.agreement, methods=["GET"])
        r.add_api_route("/sla", self.sla_page, methods=["GET"])
        r.add_api_route("/rules", self.rules_page, methods=["GET"])
        r.add_api_route("/rules/whatif", self.rules_whatif, methods=["POST"])
        r.add_api_route("/rules/reload", self.rules_reload, methods=["POST"])
        r.add_api_route("/requests/{request_id:path}", self.request_page, methods=["GET"])
        r.add_api_route("/requests/{request_id:path}", self.request_action, methods=["POST"])
        r.add_api_route("/api/queue", self.api_queue, methods=["GET"])
        r.add_api_route("/api/agreement", self.api_agreement, methods=["GET"])
        r.add_api_route("/api/requests/{request_id:path}", self.api_request, methods=["GET"])
        r.add_api_route("/api/requests/{request_id:path}", self.api_action, methods=["POST"])

    # -- sessions --------------------------------------------------------------------------------------------
    def _session(self, request: Request) -> Session | None:
        return self.sessions.loads(request.cookies.get(SESSION_COOKIE))

    def _account(self, request: Request) -> tuple[User, Session] | None:
        """The signed-in account (with its role) and its session, else None."""
        session = self._session(request)
        if session is None or session.sid is None:
            return None
        user = self.desk.store.session_user(session.sid)
        return (user, session) if user is not None else None

    def _signed_in(self, request: Request) -> tuple[str, Session] | None:
        account = self._account(request)
        return (account[0].name, account[1]) if account is not None else None

    def _set_session(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.dumps(session),
            max_age=SESSION_MAX_AGE,
            path=PREFIX,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def _page(
        self, request: Request, template: str, context: dict[str, Any], *, status: int = 200, session: Session
    ) -> Response:
        account = self._account(request)
        base = {
            "user": account[0].name if account else None,
            # The Rules link is shown to leads only (the page refuses everyone else anyway).
            "lead": bool(account and account[0].is_lead),
            "csrf": session.csrf,
            "waiting": self.desk.store.count_queue() if account else 0,
            "prefix": PREFIX,
        }
        response = self.templates.TemplateResponse(request, template, {**base, **context}, status_code=status)
        return _secure(response)

    def _to_login(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _secure(RedirectResponse(f"{PREFIX}/login?{urlencode({'next': target})}", status_code=303))

    # -- sign-in ---------------------------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        return _secure(RedirectResponse(f"{PREFIX}/queue", status_code=303))

    async def login_form(self, request: Request) -> Response:
        session = self._session(request) or Session.fresh()
        next_url = _safe_next(request.query_params.get("next"))
        response = self._page(request, "login.html", {"next": next_url, "error": None, "name": ""}, session=session)
        self._set_session(request, response, session)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        next_url = _safe_next(str(form.get("next", "")))
        session = self._session(request)
        if session is None or not session.csrf_ok(str(form.get("csrf_token", ""))):
            fresh = Session.fresh()
            error = "The sign-in form had expired (or cookies are off). Please sign in again."
            response = self._page(
                request, "login.html", {"next": next_url, "error": error, "name": name}, status=400, session=fresh
            )
            self._set_session(request, response, fresh)
            return response
        now = self.desk.clock()
        address = request.client.host if request.client is not None else "unknown"
        # The throttles may be kept in the store: off the event loop, like the password check.
        refusal = await run_in_threadpool(self.guard.refusal, name, address, now)
        if refusal is not None:
            minutes = max(1, -(-int(refusal.wait.total_seconds()) // 60))
            error = f"Too many failed sign-ins {_REFUSED_FOR[refusal.by]}; try again in {minutes} min."
            return self._page(
                request, "login.html", {"next": next_url, "error": error, "name": name}, status=429, session=session
            )
        if self._checks is None:
            self._checks = anyio.CapacityLimiter(PASSWORD_CHECKS_AT_ONCE)
        signed = await anyio.to_thread.run_sync(self._sign_in, name, password, limiter=self._checks)
        if signed is None:
            await run_in_threadpool(self.guard.failed, name, address, now)
            error = "Wrong name or password (or the account is disabled)."
            return self._page(
                request, "login.html", {"next": next_url, "error": error, "name": name}, status=401, session=session
            )
        await run_in_threadpool(self.guard.succeeded, name)
        response = _secure(RedirectResponse(next_url, status_code=303))
        self._set_session(request, response, signed)
        return response

    def _sign_in(self, name: str, password: str) -> Session | None:
        """Check the password and open a server-side session (in a worker thread: both are slow or block)."""
        user = authenticate(self.desk.store, name, password)
        if user is None:
            return None
        # A new session (and CSRF token) at sign-in, so a token planted before sign-in is worthless after it.
        signed = Session.fresh(signed_in=True)
        assert signed.sid is not None
        self.desk.store.open_session(signed.sid, user.name, self.desk.clock() + timedelta(seconds=SESSION_MAX_AGE))
        return signed

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        session = self._session(request)
        if session is not None and not session.csrf_ok(str(form.get("csrf_token", ""))):
            return _secure(Response("CSRF token missing or wrong; reload the page and try again.", status_code=403))
        if session is not None and session.sid is not None:
            self.desk.store.close_session(session.sid)
        response = _secure(RedirectResponse(f"{PREFIX}/login", status_code=303))
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    # -- pages -----------------------------------------------------------------------------------------------
    def queue(self, request: Request) -> Response:
        signed = self._signed_in(request)
        if signed is None:
            return self._to_login(request)
        params = dict(request.query_params)
        try:
            where = _filter_from(params)
        except InputError as error:
            return self._page(request, "error.html", {"message": str(error)}, status=400, session=signed[1])
        items = self.desk.store.queue(where)
        now = self.desk.clock()
        context = {
            "items": items,
            "sla": {i.id: sla_badge(self.board.of(i, now=now), self.desk.timezone) for i in items},
            "matching": self.desk.store.count_queue(where),
            "facets": _with_chosen(self.desk.store.queue_facets(), where),
            "where": where,
            "query": _filter_query(where),
            "now": self.desk.clock(),
        }
        return self._page(request, "queue.html", context, session=signed[1])

    def sla_page(self, request: Request) -> Response:
        """Requests on the SLA clock: waiting for a first response, breached, or all open ones."""
        signed = self._signed_in(request)
        if signed is None:
            return self._to_login(request)
        which = request.query_params.get("list", "waiting")
        if which not in LISTINGS:
            message = f"list must be one of {', '.join(LISTINGS)}; got {which!r}"
            return self._page(request, "error.html", {"message": message}, status=400, session=signed[1])
        now = self.desk.clock()
        statuses = self.board.listing(which, now=now)
        rows = [(s, sla_badge(s, self.desk.timezone)) for s in statuses]
        subjects = {
            r.id: r.subject or r.body[:80] for r in self.desk.store.open_requests(ids=[s.request_id for s in statuses])
        }
        context = {"rows": rows, "subjects": subjects, "which": which, "listings": LISTINGS, "now": now}
        return self._page(request, "sla.html", context, session=signed[1])

    def request_page(self, request: Request, request_id: str) -> Response:
        signed = self._signed_in(request)
        if signed is None:
            return self._to_login(request)
        return self._render_request(request, request_id, signed)

    def _render_request(
        self,
        request: Request,
        request_id: str,
        signed: tuple[str, Session],
        *,
        error: str | None = None,
        conflict: bool = False,
        status: int = 200,
        typed: dict[str, str] | None = None,
    ) -> Response:
        try:
            item = self.desk.store.get(request_id)
        except NotFound as missing:
            return self._page(request, "error.html", {"message": str(missing)}, status=404, session=signed[1])
        try:
            where = _filter_from(dict(request.query_params))
        except InputError:
            where = QueueFilter()
        following = self.desk.store.next_in_queue(item, where)
        matches = item.suggested.matched_rules
        probabilities = sorted(item.suggested.model.probabilities.items()) if item.suggested.model else []
        context = {
            "item": item,
            "subject": highlight(item.subject, matches),
            "body": highlight(item.body, matches),
            "probabilities": probabilities,
            "next": following,
            "query": _filter_query(where),
            "outcome": _outcome(item),
            "error": error,
            "conflict": conflict,
            "typed": typed or {},
            "snippet": self.desk.first_response(item),
        }
        return self._page(request, "request.html", context, status=status, session=signed[1])

    async def request_action(self, request: Request, request_id: str) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        # The store work (and the page after a refused action) happens in a worker thread, off the event loop.
        return await run_in_threadpool(self._act_on_form, request, request_id, form)

    def _act_on_form(self, request: Request, request_id: str, form: dict[str, str]) -> Response:
        signed = self._signed_in(request)
        if signed is None:
            return self._to_login(request)
        if not signed[1].csrf_ok(form.get("csrf_token")):
            return self._render_request(
                request,
                request_id,
                signed,
                error="The form had expired (CSRF token missing or wrong); nothing was saved. Please act again.",
                status=403,
            )
        try:
            self.desk.act(
                request_id,
                actor=signed[0],
                version=_version(form.get("version")),
                action=_action(form.get("action")),
                severity=Severity.parse(form["severity"]) if form.get("severity") else None,
                reason=form.get("reason"),
            )
        except NotFound as missing:
            return self._page(request, "error.html", {"message": str(missing)}, status=404, session=signed[1])
        except ReviewConflict as conflict:
            # What the specialist chose and wrote stays in the form; the page shows the request as it is now.
            message = conflict.describe(self.desk.timezone)
            return self._render_request(
                request, request_id, signed, error=message, conflict=True, status=409, typed=form
            )
        except (InputError, ValueError) as wrong:
            return self._render_request(request, request_id, signed, error=str(wrong), status=400, typed=form)
        # Back to the request, which now shows its outcome from the store (nothing about it rides in the URL).
        query = request.url.query
        back = f"{PREFIX}/requests/{quote(request_id, safe='')}"
        return _secure(RedirectResponse(back + (f"?{query}" if query else ""), status_code=303))

    def agreement(self, request: Request) -> Response:
        signed = self._signed_in(request)
        if signed is None:
            return self._to_login(request)
        report = self.desk.agreement()
        return self._page(request, "agreement.html", {"report": report}, session=signed[1])

    # -- the Rules page (support leads) ----------------------------------------------------------------------
    def _live_rules(self, request: Request) -> RuleStage | None:
        """The rules in service (None when the desk runs without the service's engines, e.g. embedded)."""
        engines = getattr(request.app.state, "engines", None)
        return engines.current.triage.rule_stage if engines is not None else None

    def _not_lead(self, request: Request, account: tuple[User, Session]) -> Response:
        message = (
            f"The Rules page is for support leads, and {account[0].name} is a specialist. A lead or an "
            f"administrator can give you the role with `sevtriage users role {account[0].name} lead`."
        )
        return self._page(
            request, "error.html", {"message": message, "title": "Leads only"}, status=403, session=account[1]
        )

    def rules_page(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return self._to_login(request)
        if not account[0].is_lead:
            return self._not_lead(request, account)
        return self._render_rules(request, account[1], reloaded=request.query_params.get("reloaded") == "1")

    def _render_rules(
        self,
        request: Request,
        session: Session,
        *,
        whatif: WhatIf | None = None,
        problems: Sequence[str] = (),
        error: str | None = None,
        pasted: str = "",
        reloaded: bool = False,
        status: int = 200,
    ) -> Response:
        """The Rules page: live rules with their record in the store, the reload history, and a what-if's result."""
        live = self._live_rules(request)
        store = self.desk.store
        rows = rule_rows(live.book, store.rule_counts(), store.recent_overrides()) if live is not None else []
        settings = getattr(request.app.state, "settings", None)
        rules_path = str(getattr(settings, "rules_path", None) or (live.book.path if live else "rules/severity.yaml"))
        context = {
            "live": live.book if live is not None else None,
            "rows": rows,
            "reloads": store.rule_reloads(),
            "whatif": whatif,
            "problems": problems,
            "error": error,
            "pasted": pasted,
            "reloaded": reloaded,
            "rules_path": rules_path,
            "max_kb": MAX_CANDIDATE_BYTES // 1024,
            "candidate_name": CANDIDATE_NAME,
            "shown_changes": SHOWN_CHANGES,
        }
        return self._page(request, "rules.html", context, status=status, session=session)

    async def rules_whatif(self, request: Request) -> Response:
        """Diff a pasted or uploaded candidate rule file against the live one over the store; changes nothing."""
        account = await run_in_threadpool(self._account, request)
        if account is None:
            return self._to_login(request)
        if not account[0].is_lead:
            return await run_in_threadpool(self._not_lead, request, account)
        session = account[1]
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > 2 * MAX_CANDIDATE_BYTES + 64 * 1024:
            message = (
                f"the upload is {int(declared):,} bytes; a candidate rule file may have at most {MAX_CANDIDATE_BYTES:,}"
            )
            return await run_in_threadpool(
                functools.partial(self._render_rules, request, session, error=message, status=413)
            )
        try:
            form = await request.form(max_files=1, max_fields=4, max_part_size=MAX_CANDIDATE_BYTES + 1)
        except StarletteHTTPException as refused:
            # Starlette refuses a pasted text over the part limit, or a malformed form, before we see it.
            message = (
                f"The form could not be read ({refused.detail}); a candidate may have at most "
                f"{MAX_CANDIDATE_BYTES:,} bytes."
            )
            return await run_in_threadpool(
                functools.partial(self._render_rules, request, session, error=message, status=413)
            )
        try:
            if not session.csrf_ok(str(form.get("csrf_token", ""))):
                message = "The form had expired (CSRF token missing or wrong); nothing was run. Please try again."
                return await run_in_threadpool(
                    functools.partial(self._render_rules, request, session, error=message, status=403)
                )
            pasted = str(form.get("candidate_text") or "")
            upload = form.get("candidate_file")
            data = b""
            if isinstance(upload, StarletteUpload) and upload.filename:
                data = await upload.read(MAX_CANDIDATE_BYTES + 1)
            if not data:
                data = pasted.encode("utf-8")
        finally:
            await form.close()
        if not data.strip():
            message = "Paste a rule file into the box or choose one to upload; both were empty."
            return await run_in_threadpool(
                functools.partial(self._render_rules, request, session, error=message, status=400)
            )
        live = self._live_rules(request)
        if live is None:
            message = "The rules in service are not known to the desk here, so there is nothing to compare with."
            return await run_in_threadpool(
                functools.partial(self._render_rules, request, session, error=message, status=409)
            )
        try:
            candidate = await run_in_threadpool(read_candidate, data)
        except ConfigError as malformed:
            return await run_in_threadpool(
                functools.partial(
                    self._render_rules,
                    request,
                    session,
                    problems=[str(p) for p in malformed.problems],
                    pasted=pasted,
                    status=422,
                )
            )
        try:
            result = await self._run_whatif(live, candidate)
        except (SevtriageError, anyio.BrokenWorkerProcess) as failed:
            log.error("what-if failed: %s", failed)
            message = f"The what-if could not run ({failed}); nothing changed. The server log has the details."
            return await run_in_threadpool(
                functools.partial(self._render_rules, request, session, error=message, pasted=pasted, status=503)
            )
        return await run_in_threadpool(
            functools.partial(self._render_rules, request, session, whatif=result, pasted=pasted)
        )

    async def _run_whatif(self, live: RuleStage, candidate: Rulebook) -> WhatIf:
        """Evaluate both rule files over the store in a worker process, one what-if at a time.

        A process, not a thread: thousands of requests through two rule stages is seconds of pure-Python CPU,
        which in a thread would hold the GIL against the classifications the service answers meanwhile.
        """
        if self._whatifs is None:
            self._whatifs = anyio.CapacityLimiter(1)
        url = self.desk.store.engine.url
        args = (url.render_as_string(hide_password=False), live.book, candidate, live.engine_name, self.sla_path)
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            # A private in-memory database exists only in this process.
            return await anyio.to_thread.run_sync(run_whatif, *args, limiter=self._whatifs)
        return await anyio.to_process.run_sync(run_whatif, *args, limiter=self._whatifs)

    async def rules_reload(self, request: Request) -> Response:
        """Reload the configured rule file (and model and policy) through the service's one reload path."""
        account = await run_in_threadpool(self._account, request)
        if account is None:
            return self._to_login(request)
        if not account[0].is_lead:
            return await run_in_threadpool(self._not_lead, request, account)
        user, session = account
        form = await request.form(max_files=0, max_fields=4)
        if not session.csrf_ok(str(form.get("csrf_token", ""))):
            message = "The form had expired (CSRF token missing or wrong); nothing was reloaded. Please try again."
            return await run_in_threadpool(
                functools.partial(self._render_rules, request, session, error=message, status=403)
            )
        if form.get("confirm") != "yes":
            message = "Tick the box to confirm the reload; nothing was reloaded."
            return await run_in_threadpool(
                functools.partial(self._render_rules, request, session, error=message, status=400)
            )
        if getattr(request.app.state, "engines", None) is None:
            message = "This desk runs without the service's engines, so there is nothing to reload here."
            return await run_in_threadpool(
                functools.partial(self._render_rules, request, session, error=message, status=409)
            )
        from sevtriage.api.errors import ApiError
        from sevtriage.api.routes.ops import reload_engines

        try:
            done = await reload_engines(request.app, user.name)
        except ApiError as refused:
            return await run_in_threadpool(
                functools.partial(self._render_rules, request, session, error=refused.message, status=422)
            )
        log.info("rules reloaded from the desk by %s: %s", user.name, done["rules_version"])
        # The page says what is in service now; nothing from the address is shown (a link could not fake it).
        return _secure(RedirectResponse(f"{PREFIX}/rules?reloaded=1", status_code=303))

    # -- JSON ------------------------------------------------------------------------------------------------
    def _api_user(self, request: Request) -> tuple[str, Session] | JSONResponse:
        signed = self._signed_in(request)
        if signed is None:
            return _secure_json(json_error(401, "sign_in_required", f"sign in at {PREFIX}/login first"))
        return signed

    def api_queue(self, request: Request) -> Response:
        signed = self._api_user(request)
        if isinstance(signed, JSONResponse):
            return signed
        try:
            where = _filter_from(dict(request.query_params))
        except InputError as error:
            return _secure_json(json_error(400, "bad_filter", str(error)))
        items = self.desk.store.queue(where)
        body = {
            "waiting": self.desk.store.count_queue(),
            "matching": self.desk.store.count_queue(where),
            "items": [request_json(i) for i in items],
        }
        return _secure_json(JSONResponse(body))

    def api_request(self, request: Request, request_id: str) -> Response:
        signed = self._api_user(request)
        if isinstance(signed, JSONResponse):
            return signed
        try:
            return _secure_json(JSONResponse(request_json(self.desk.store.get(request_id))))
        except NotFound as missing:
            return _secure_json(json_error(404, "not_found", str(missing)))

    async def api_action(self, request: Request, request_id: str) -> Response:
        signed = self._api_user(request)
        if isinstance(signed, JSONResponse):
            return signed
        if not signed[1].csrf_ok(request.headers.get("x-csrf-token")):
            return _secure_json(json_error(403, "csrf", "send the session's CSRF token in the X-CSRF-Token header"))
        body = await request.body()
        return await run_in_threadpool(self._api_act, request_id, signed[0], body)

    def _api_act(self, request_id: str, actor: str, body: bytes) -> Response:
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise InputError("the body must be a JSON object with action, version, severity and reason")
            severity = payload.get("severity")
            done = self.desk.act(
                request_id,
                actor=actor,
                version=_version(payload.get("version")),
                action=_action(payload.get("action")),
                severity=Severity.parse(severity) if severity is not None else None,
                reason=payload.get("reason") if isinstance(payload.get("reason"), str) else None,
            )
        except json.JSONDecodeError as error:
            return _secure_json(json_error(400, "bad_json", f"the body is not JSON: {error}"))
        except NotFound as missing:
            return _secure_json(json_error(404, "not_found", str(missing)))
        except ReviewConflict as conflict:
            return _secure_json(json_error(409, "conflict", conflict.describe(self.desk.timezone)))
        except (InputError, ValueError) as wrong:
            return _secure_json(json_error(400, "invalid", str(wrong)))
        return _secure_json(JSONResponse(request_json(done)))

    def api_agreement(self, request: Request) -> Response:
        signed = self._api_user(request)
        if isinstance(signed, JSONResponse):
            return signed
        return _secure_json(JSONResponse(self.desk.agreement().to_dict()))


def _outcome(item: StoredRequest) -> Action | None:
    """The specialist's action that decided a reviewed request (the latest accept or change), else None."""
    if not item.reviewed:
        return None
    decided = [a for a in item.history if a.kind in ("accepted", "changed")]
    return decided[-1] if decided else None


def _action(value: object) -> Literal["accept", "change"]:
    if value == "accept":
        return "accept"
    if value == "change":
        return "change"
    raise InputError(f"action must be one of accept, change; got {value!r}")


def _version(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise InputError(
            f"version must be the request's version number as shown when it was opened; got {value!r}"
        ) from None


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _secure_json(response: JSONResponse) -> JSONResponse:
    response.headers.update(SECURITY_HEADERS)
    return response
