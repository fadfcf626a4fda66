"""Realism measures: how far a colorized set is from real photos, beyond pixel distance to truth.

from colorbench.realism import c2st
result = c2st(real, colorized, folds=5, seed=0)   # classifier two-sample test, no weights needed
"""

from colorbench.realism.c2st import C2STInputError, C2STResult, c2st

__all__ = ["C2STInputError", "C2STResult", "c2st"]
