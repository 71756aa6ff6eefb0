"""``/admin/reload`` and ``/admin/promote``, behind the bearer token (:func:`serving.routes.deps.admin`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from serving.responses import OrjsonResponse
from serving.routes.deps import Ready, admin
from serving.schemas import PromoteBody, PromoteResponse, ReloadResponse
from serving.state import Promoter


def admin_router(promoter: Promoter | None) -> APIRouter:
    """The admin routes; ``promoter`` moves registry aliases (None: this service may only read the registry)."""
    router = APIRouter(dependencies=[Depends(admin)])

    @router.post("/admin/reload", response_model=ReloadResponse)
    def reload(s: Ready) -> OrjsonResponse:
        """Load the registry's current models; a model that fails to load leaves the old one serving (409).

        Loading (and compiling a new model) runs in the thread pool: requests keep being answered meanwhile.
        Other workers follow within ``serving.registry_poll_s``.
        """
        ok, detail = s.reload(fresh=True)
        body = ReloadResponse(reloaded=ok, model_versions=s.engine.versions, detail=detail)
        return OrjsonResponse(body.model_dump(), status_code=200 if ok else 409)

    @router.post("/admin/promote", response_model=PromoteResponse)
    def promote(body: PromoteBody, s: Ready) -> OrjsonResponse:
        """Promote the slot's challenger (if it beats the champion) or roll back, then reload this worker."""
        if promoter is None:
            raise HTTPException(503, "admin/promote: this service was started without registry write access")
        outcome = promoter(body.slot, body.action)
        ok = True
        if outcome.moved:
            ok, _ = s.reload(fresh=True)
        out = PromoteResponse(slot=body.slot, action=body.action, moved=outcome.moved, reason=outcome.reason,
                              champion_before=outcome.before, champion_after=outcome.after, reloaded=outcome.moved
                              and ok, model_versions=s.engine.versions)
        return OrjsonResponse(out.model_dump(), status_code=200 if ok else 409)

    return router
