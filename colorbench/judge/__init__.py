"""People judge realism: the two-alternative forced-choice test of Zhang et al. (2016).

``colorbench judge STORE`` serves a local page (``server.py``, needs ``colorbench[judge]``) that
shows a real val photo and a run's colorization of it side by side and asks which one is real;
answers go to the store's SQLite database (``db.py``); :func:`fooling_rates` reads them back.
Importing this package is light: no FastAPI, no torch.
"""

from colorbench.judge.rates import FoolingRate, fooling_rates, wilson_interval

__all__ = ["FoolingRate", "fooling_rates", "wilson_interval"]
