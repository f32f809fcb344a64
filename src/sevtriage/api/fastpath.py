"""`POST /v1/classify` without FastAPI's per-request machinery, for the common well-formed request.

Measured (benchmarks/README.md, issue 13 target 2): with one worker under 10 clients, FastAPI's routing,
dependency solving, request validation and the middleware between them cost a large share of what a request costs
outside `classify_many`. This pure ASGI middleware answers a well-formed, authorised JSON request on that one
path itself: it checks the token, parses the body with `json.loads` as FastAPI does, checks the fields exactly as
`TicketIn` would (`plain_fields`) and then does what the route does (`routes.classify`), sending the same bytes.

Everything else goes on to FastAPI unchanged: a missing or wrong token, a body that is not JSON, not an object or
does not match the schema, a chunked body, another content type. The body already read is handed on as it came,
so FastAPI answers those exactly as it always did (the same 401, 400 and 422 bodies). Errors after validation (the
intake's 422, 503 not_stored, ...) are answered by the same handlers as the route's (`sevtriage.api.errors`).
The route stays registered in FastAPI, which keeps it in the OpenAPI document at /docs.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sevtriage.api.deps import check_token, metrics_of
from sevtriage.api.errors import ApiError
from sevtriage.api.routes.classify import decide_one

PATH = "/v1/classify"
_DECLARED = frozenset({"id", "subject", "body", "received_at", "plan"})
_MISSING: Any = object()


def plain_fields(data: object) -> dict[str, Any] | None:
    """`TicketIn.model_validate(data).model_dump()` for data that passes it, computed without pydantic; None when
    the data would not pass as it is (FastAPI then validates it and words the error).

    The checks are `TicketIn`'s: an object; `id` a string or a whole number (strict: not true, not 1.5);
    `subject` and `body` text or null (missing: ""); `received_at` and `plan` text or null (missing: null);
    other fields carried through, after the declared ones, in the order given.
    """
    if type(data) is not dict:
        return None
    ident = data.get("id", _MISSING)
    if type(ident) is not str and type(ident) is not int:  # `type is`, so that true/false are not ids
        return None
    subject = data.get("subject", "")
    body = data.get("body", "")
    received_at = data.get("received_at")
    plan = data.get("plan")
    for value in (subject, body, received_at, plan):
        if value is not None and type(value) is not str:
            return None
    fields: dict[str, Any] = {"id": ident, "subject": subject, "body": body, "received_at": received_at, "plan": plan}
    for key, value in data.items():
        if key not in _DECLARED:
            if key.startswith("_"):  # pydantic's own rules for private-looking names: let it decide
                return None
            fields[key] = value
    return fields


def _content_type(scope: Scope) -> tuple[bytes | None, bool]:
    """The Content-Type header and whether Content-Length was given."""
    content_type: bytes | None = None
    has_length = False
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            has_length = True
    return content_type, has_length


class ClassifyFastPath:
    """Answers well-formed `POST /v1/classify` calls directly; passes every other request to `app` as it is.

    Install it as the innermost middleware, so that the body size limit, metrics and worker header apply to it
    exactly as to the route. `route` is the FastAPI route it stands in for: metrics label requests with its path.
    """

    def __init__(self, app: ASGIApp, route: BaseRoute) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        content_type, has_length = _content_type(scope)
        # Only the plain case is taken: a declared length (the size limit refused larger ones already) and JSON.
        if not has_length or content_type is None or content_type.lower() != b"application/json":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            check_token(request)
        except ApiError:
            await self.app(scope, receive, send)  # FastAPI answers it: the same 401 as always
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away while sending
                await self.app(scope, _replay(b"".join(chunks), message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        fields: dict[str, Any] | None = None
        if body:
            try:
                fields = plain_fields(json.loads(body))
            except ValueError:  # not JSON (or not UTF-8): FastAPI words it
                fields = None
        if fields is None:
            await self.app(scope, _replay(body, None, receive), send)
            return
        scope["route"] = self.route
        metrics_of(request).count("fast_path")
        try:
            decision = await decide_one(request, fields)
        except Exception as error:
            await _answer_error(scope, receive, send, error)
            return
        await JSONResponse(decision.to_dict())(scope, receive, send)


def _replay(body: bytes, then: Message | None, receive: Receive) -> Receive:
    """A `receive` that first gives the body already read (or the message that interrupted it), then the rest."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": then is not None}]
    if then is not None:
        pending.append(then)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _answer_error(scope: Scope, receive: Receive, send: Send, error: Exception) -> None:
    """Answer `error` with the handler FastAPI would use (`sevtriage.api.errors`); an error that only the catch-all
    handles is raised on, so that the outermost middleware answers and logs it as for any route."""
    handlers = scope["app"].exception_handlers
    for kind in type(error).__mro__:
        if kind is Exception:
            break
        handler = handlers.get(kind)
        if handler is not None:
            response = await handler(Request(scope, receive), error)
            await response(scope, receive, send)
            return
    raise error
