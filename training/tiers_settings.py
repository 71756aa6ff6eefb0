"""Settings of the monthly tier assessment: defined in :mod:`ranking.tier_settings` (the service reads them too)."""

from ranking.tier_settings import MetricGrade, TierRule, TierSettings

__all__ = ["MetricGrade", "TierRule", "TierSettings"]
