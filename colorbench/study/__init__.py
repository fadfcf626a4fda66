"""Studies: the baseline plus one-factor-at-a-time variations (or a grid), over seeds and plugins.

``design.py`` turns the factor table into settings, ``plan.py`` resolves every run, ``runner.py``
carries the plan out through an executor (``executors.py``); ``commands.py`` is ``colorbench run``.
"""
