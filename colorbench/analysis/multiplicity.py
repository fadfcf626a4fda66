"""Control of the family of tests a report makes: Holm for "beats gray" and "best", BH for effects.

A table tests every setting x metric. At 5% each, 9 settings on one metric give a null study at least
one false "better than gray" 19.5-41% of the time (issue 21). So:

* **"beats gray"** (the ⁺ marks, the headline "k of n settings beat gray", the gray condition of
  "best"): Holm's step-down over the settings of one generator and metric, family-wise 5%. The
  reported adjusted interval is Bonferroni's (level 1 - 0.05 / m), simultaneous for the family;
  Holm rejects at least what it does.
* **effects against Default** (bold in the effects table): Benjamini-Hochberg over one generator's
  val-metric effects (and separately its training-loss effects), false discovery rate 5%, with the
  false-coverage-rate adjusted intervals of Benjamini & Yekutieli (2005): level 1 - R 0.05 / m, R
  the number selected, so an adjusted interval excludes 0 exactly when its effect is selected.
* **best**: the leader must beat gray (Holm, above) and beat every other setting within noise at 5%
  each: an intersection-union test, which needs no correction (all must hold at once).

The uncorrected interval (``low``, ``high``) and p-value stay in every frame and in the CSV.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

ALPHA = 0.05
HOLM, BONFERRONI, BH = "Holm", "Bonferroni", "Benjamini-Hochberg"


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's adjusted p-values (reject where < alpha: family-wise error <= alpha)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values; select where <= alpha: FDR <= alpha)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    out = np.empty(m)
    out[order] = stepped
    return out


def t_bounds(estimate, se, df, level: float) -> tuple[np.ndarray, np.ndarray]:
    """estimate -/+ t(df) x se at ``level`` (arrays; se 0 gives the point, NaN df gives NaN)."""
    estimate, se, df = (np.asarray(a, dtype=float) for a in (estimate, se, df))
    half = np.where(se > 0, stats.t.ppf(0.5 + level / 2, np.where(np.isfinite(df), df, 1e6)) * se, 0.0)
    half = np.where(np.isnan(se), np.nan, half)
    return estimate - half, estimate + half
