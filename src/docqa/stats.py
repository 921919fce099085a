"""Summary statistics shared by the evaluation and the benchmarks.

One percentile definition for every latency docqa reports, so that a p95 in ``docqa eval`` and a
p95 in a benchmark result mean the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (q from 0 to 100), interpolating linearly between the closest ranks.

    This is the "linear" method, numpy's default: position ``(n - 1) * q / 100`` in the sorted
    values, so the 0th is the smallest value, the 100th the largest, and the 50th the median.
    """
    if not values:
        raise ValueError("a percentile needs at least one value")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, not {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)
