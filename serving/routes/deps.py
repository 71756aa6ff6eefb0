"""Dependencies shared by the routers: the ready service state, and the admin bearer token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.state import ServiceState

bearer = HTTPBearer(auto_error=False)
# Declared on every route, with one body (ErrorBody), so a client can rely on the schema for errors too.
ERRORS = {400: "malformed body", 401: "admin: missing token", 403: "admin: wrong token", 404: "unknown id",
          409: "reload refused: the old model keeps serving", 413: "body too large", 422: "invalid field",
          429: "rate limited", 503: "not ready, or not available in this service"}


def service(request: Request) -> ServiceState:
    """The app's service state (whether ready or not)."""
    state: ServiceState = request.app.state.service
    return state


async def ready_state(request: Request) -> ServiceState:
    """The service state once data and models are loaded; 503 before.

    Async on purpose: a plain function dependency would cost every request a hop to the thread pool.
    """
    state = service(request)
    if not state.ready:
        raise HTTPException(503, state.error or "loading: data and models are not ready yet")
    return state


async def admin(request: Request,
                creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """401 without a bearer token, 403 with a wrong one (compared in constant time)."""
    token = service(request).config.serving.admin_token.get_secret_value()
    if creds is None:
        raise HTTPException(401, "admin: missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not token or not hmac.compare_digest(creds.credentials.encode(), token.encode()):
        raise HTTPException(403, "admin: wrong bearer token")


Ready = Annotated[ServiceState, Depends(ready_state)]
