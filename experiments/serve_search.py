"""The search for the highest sustained arrival rate: grow while steps pass, then bisect between the best
passing and the lowest failing rate (geometric midpoints), a bounded number of short steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    """One fixed-rate step: its rate, whether it passed (p99 under the bound, no errors), what it measured."""

    rate: float
    ok: bool
    result: dict[str, Any]


def search_max_rate(attempt: Callable[[float], Step], start: float, *, cap: float, max_steps: int = 8,
                    growth: float = 1.5, tolerance: float = 0.1) -> tuple[float, list[Step]]:
    """The highest passing rate found (0.0 if none passed) and every step tried, in order.

    Rates never exceed ``cap`` (the generator's own ceiling: above it the generator, not the service, would be
    measured). The search stops once the best passing and the lowest failing rate are within ``tolerance``.
    """
    best, lowest_fail, steps = 0.0, None, []
    rate = max(1.0, min(start, cap))
    for _ in range(max_steps):
        step = attempt(rate)
        steps.append(step)
        if step.ok:
            best = max(best, rate)
        else:
            lowest_fail = rate if lowest_fail is None else min(lowest_fail, rate)
        if lowest_fail is None:
            if rate >= cap:
                break
            rate = min(cap, rate * growth)
        elif best == 0.0:
            rate = lowest_fail / 2  # nothing passed yet: come down fast
            if rate < 1.0:
                break
        else:
            if lowest_fail / best <= 1 + tolerance:
                break
            rate = (best * lowest_fail) ** 0.5
    return best, steps
