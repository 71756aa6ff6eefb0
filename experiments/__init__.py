"""Offline evaluation, the simulated Weitao world, metrics and reports (imports `features` and `ranking`)."""
