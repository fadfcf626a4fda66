"""Measured quantities: one declaration (:class:`Measure`) per training loss and val metric.

See :mod:`colorbench.measures.declaration` for what a declaration holds,
:mod:`colorbench.measures.builtin` for colorbench's own, and :mod:`colorbench.measures.registry`
for how metric plugins (the ``colorbench.metrics`` entry-point group) are found. The plugin
interface is documented in docs/plugins.md.
"""

from colorbench.measures.compute import image_metrics
from colorbench.measures.declaration import (
    HIGHER,
    IMAGE,
    LOSS,
    LOWER,
    METRIC,
    SET,
    ImageBatch,
    Measure,
    MeasureSet,
    Need,
    SetValue,
    declaration_problem,
)
from colorbench.measures.registry import (
    ENTRY_POINT_GROUP,
    REGISTRY,
    UnknownMeasureError,
    all_measures,
    default_verdict,
    find_measure,
    get_measure,
    image_measures,
    loss_measures,
    metadata_is_stale,
    metric_entries,
    metric_measures,
    refresh,
    set_measures,
    skipped_metrics,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "HIGHER",
    "IMAGE",
    "LOSS",
    "LOWER",
    "METRIC",
    "REGISTRY",
    "SET",
    "ImageBatch",
    "Measure",
    "MeasureSet",
    "Need",
    "SetValue",
    "UnknownMeasureError",
    "all_measures",
    "declaration_problem",
    "default_verdict",
    "find_measure",
    "get_measure",
    "image_measures",
    "image_metrics",
    "loss_measures",
    "metadata_is_stale",
    "metric_entries",
    "metric_measures",
    "refresh",
    "set_measures",
    "skipped_metrics",
]
