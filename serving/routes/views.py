"""What the engine shows people: the hotlist board, the amplification gate, and an account's insights.

``/amplification`` and ``/accounts/{id}/insights`` answer JSON, or a server-rendered page to a client that
prefers ``text/html`` (operators and sellers in a browser).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from serving.insights import PeerCache, UnknownAccount, account_insights
from serving.operator import amplification_view
from serving.pages import CSP, wants_html
from serving.pages.insights import insights_page
from serving.pages.operator import operator_page
from serving.responses import OrjsonResponse
from serving.routes.deps import Ready
from serving.schemas import HotlistResponse, InsightsResponse
from serving.schemas_operator import AmplificationResponse


def views_router() -> APIRouter:
    """The routes, with their own cache of every account's figures for the insights' peer comparison."""
    router = APIRouter()
    peers = PeerCache()  # per hour of request time

    @router.get("/hotlist", response_model=HotlistResponse)
    async def hotlist(s: Ready) -> HotlistResponse:
        """The posts on the picked-hot-list board now (official picks and amplified posts)."""
        b = s.data.board.state
        order = np.argsort(-b.weight, kind="stable")
        return HotlistResponse(items=[{"id": int(b.post_ids[i]), "weight": float(b.weight[i]),
                                       "official": bool(b.official[i])} for i in order])

    @router.get("/amplification", response_model=AmplificationResponse,
                responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                                 "description": "JSON; the operator's page, refreshing itself, for Accept: text/html"}})
    def amplification(request: Request, s: Ready,
                      limit: Annotated[int, Query(ge=1, le=500, description="Board posts and moves to list.")] = 50
                      ) -> Response:
        """The amplification gate live: posts per level, pool capacity and fill, the hotlist with reasons."""
        body = amplification_view(s.data.gate, s.data.board.state, s.now_ms(), limit)
        if wants_html(request.headers.get("accept")):
            return HTMLResponse(operator_page(body), headers={"Content-Security-Policy": CSP})
        return OrjsonResponse(body)

    @router.get("/accounts/{account_id}/insights", response_model=InsightsResponse,
                responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                                 "description": "JSON; a server-rendered page with charts for Accept: text/html"}})
    def insights(account_id: int, request: Request, s: Ready,
                 posts: Annotated[int, Query(ge=1, le=200, description="Newest posts to include.")] = 20
                 ) -> Response:
        """An account's LINK+ funnel, revisits, best posting hour, tier progress, amplification history, peers
        and newest posts; an HTML page with charts when the client prefers ``text/html``."""
        try:
            body = account_insights(s.data, s.config.gate, account_id, s.now_ms(), posts, tiers=s.config.tiers,
                                    peers=peers)
        except UnknownAccount as e:
            raise HTTPException(404, str(e)) from None
        if wants_html(request.headers.get("accept")):
            return HTMLResponse(insights_page(body), headers={"Content-Security-Policy": CSP})
        return OrjsonResponse(body)

    return router
