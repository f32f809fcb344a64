"""POST /v1/sla/due: deadlines for a severity, plan and arrival."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from sevtriage.api.deps import engines_of, require_token
from sevtriage.api.errors import ApiError
from sevtriage.api.schemas import ERROR_RESPONSES, SlaDueIn, SlaDueOut
from sevtriage.intake.readers import parse_instant
from sevtriage.types import Severity

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["sla"])


@router.post("/sla/due", summary="Response deadlines", response_model=SlaDueOut, responses=ERROR_RESPONSES)
def sla_due(payload: SlaDueIn, request: Request) -> JSONResponse:
    """Initial and ongoing response deadlines in business time, with the target and clause that set each."""
    loaded = engines_of(request).current
    try:
        severity = Severity.parse(payload.severity)
        received = parse_instant(payload.received_at)
    except ValueError as error:
        raise ApiError(422, str(error)) from None
    plan = (payload.plan or "").strip().lower() or loaded.intake.default_plan or loaded.sla.default_plan
    plans = loaded.intake.plans
    if plans is not None and plan not in plans:
        raise ApiError(422, f"unknown plan {payload.plan!r}; plan must be one of {', '.join(sorted(plans))}")
    deadlines = loaded.sla.deadlines(severity, plan, received)
    return JSONResponse(
        {
            "severity": int(severity),
            "plan": plan,
            "received_at": received.isoformat(),
            **deadlines.to_dict(),
        }
    )
