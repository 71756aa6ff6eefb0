"""Slot pipelines and the amplification gate (imports only `features`)."""
