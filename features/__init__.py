"""Data contract, validation, storage and feature definitions (the bottom layer: imports nothing above)."""
