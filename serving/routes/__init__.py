"""The service's routes, one router per concern; :func:`serving.app.create_app` includes them all.

Handlers stay thin: they validate, call :class:`~serving.state.ServiceState` or a domain function, and shape
the answer. The state travels on the app (``request.app.state.service``), so the routers need no closures.
"""
