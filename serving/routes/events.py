"""``POST /events``: batches of events into the live state, idempotent and rate-limited per account."""

from __future__ import annotations

import orjson
import pyarrow as pa
from fastapi import APIRouter, HTTPException

from features.validate_base import ContractError
from serving.events import RateLimited
from serving.routes.deps import Ready
from serving.schemas import EventsBody, EventsResponse

router = APIRouter()


@router.post("/events", response_model=EventsResponse)
def events(body: EventsBody, s: Ready) -> EventsResponse:
    """A batch of events: idempotent by event id, rate-limited per account (429 past the limit).

    Accepted rows are on disk (the event log) before the answer. Runs in the thread pool, so writing
    and applying a batch never holds up ``/rank`` on the event loop.
    """
    most = s.config.serving.max_events_per_batch
    if len(body.events) > most:
        raise HTTPException(422, f"events: {len(body.events)} events in one batch; the most is {most}")
    try:
        raw = pa.Table.from_pylist(body.events)
        result = s.intake.ingest(raw, s.now_ms())
    except RateLimited as e:
        s.metrics.events.labels(outcome="rate_limited").inc(len(body.events))
        raise HTTPException(429, str(e), headers={"Retry-After": "60"}) from None
    except (ContractError, pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
        s.metrics.events.labels(outcome="invalid").inc(len(body.events))
        raise HTTPException(422, f"events: {e}") from None
    for outcome, n in (("accepted", result.accepted), ("duplicate", result.duplicates),
                       ("quarantined", len(result.quarantined))):
        s.metrics.events.labels(outcome=outcome).inc(n)
    return EventsResponse(rows_in=result.rows_in, accepted=result.accepted, duplicates=result.duplicates,
                          pending=result.pending,
                          quarantined=[{"row": orjson.loads(orjson.dumps(q["row"], default=str)),
                                        "reason": q["reason"]} for q in result.quarantined])
