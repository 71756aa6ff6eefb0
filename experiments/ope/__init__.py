"""Off-policy evaluation: estimate a new policy's value from logged pages before it ships.

* :mod:`experiments.ope.estimators`: IPW, SNIPW and DR (obp 0.5.7's formulas) with bootstrap intervals.
* :mod:`experiments.ope.reward`: the cross-fitted reward model DR needs (obp's RegressionModel, per position).
* :mod:`experiments.ope.obd`: validation on the Open Bandit Dataset sample shipped in obp's sdist.
* :mod:`experiments.ope.sim`: estimates on the simulated world against the new ranker's closed-loop value.
"""

from experiments.ope.estimators import ESTIMATORS, Estimate, Factual, estimate_all, factual

__all__ = ["ESTIMATORS", "Estimate", "Factual", "estimate_all", "factual"]
