"""latency.py - the latency statistics every Python bench script reports (torch_bench.py,
merge.py): the same fields and percentile as `lockstep bench` and ort_bench.js (linear
between the two nearest ranks)."""

import numpy as np


def percentile(s, q):
    at = q * (len(s) - 1)
    lo = int(at)
    if lo >= len(s) - 1:
        return float(s[-1])
    return float(s[lo] + (at - lo) * (s[lo + 1] - s[lo]))


def stats(samples):
    s = np.sort(np.asarray(samples, dtype=np.float64))
    r = lambda v: round(float(v), 3)  # noqa: E731
    return {"min": r(s[0]), "p50": r(percentile(s, 0.5)), "p90": r(percentile(s, 0.9)),
            "p99": r(percentile(s, 0.99)), "p999": r(percentile(s, 0.999)), "max": r(s[-1]),
            "mean": r(s.mean()), "std": r(s.std(ddof=1) if len(s) > 1 else 0.0)}
