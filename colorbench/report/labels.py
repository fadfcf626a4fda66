"""What a report calls things: a generator by its declared ``display_name``, a measure by its label.

A generator's name comes from the store: the study record (written at planning from the plugin's
``GeneratorPlugin.display_name``), else its runs' records (written at training). A store made
before names were recorded asks the installed plugin of that name; else the key prints as itself.
A measure's label comes from its declaration (:mod:`colorbench.measures`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from colorbench.measures import find_measure


def measure_label(name: str) -> str:
    """The declared label of a loss or metric ("CIEDE2000" for ``ciede2000``); the name if undeclared."""
    info = find_measure(name)
    return info.label if info is not None else str(name)


def _installed_name(generator: str) -> str | None:
    """The display name of the installed plugin ``generator`` (older stores only), None if unknown."""
    try:
        from colorbench.models.registry import get_generator

        return get_generator(generator).shown_name
    except Exception:  # unknown, broken or uninstalled: the report still renders, with the key
        return None


def generator_label(study: dict[str, Any], runs: pd.DataFrame | None, generator: str) -> str:
    """The generator's name as the report prints it (module docstring: where it comes from)."""
    recorded = (study.get("generators") or {}).get(generator) or {}
    if isinstance(recorded.get("display_name"), str) and recorded["display_name"].strip():
        return recorded["display_name"].strip()
    if runs is not None and "plugin_display_name" in runs.columns:
        known = runs.loc[runs["generator"] == generator, "plugin_display_name"].dropna()
        known = [str(k).strip() for k in known if str(k).strip()]
        if known:
            return known[0]
    return _installed_name(str(generator)) or str(generator)
