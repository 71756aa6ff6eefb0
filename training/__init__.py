"""Jobs that fit models and log them to MLflow (imports `features` and `ranking`)."""
