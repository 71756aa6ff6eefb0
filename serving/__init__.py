"""The FastAPI ranking service (imports `features` and `ranking`)."""
