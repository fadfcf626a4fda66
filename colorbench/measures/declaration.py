"""What a measured quantity is: one :class:`Measure` per training loss or val metric.

Every table header, CSV column, verdict, mark, grid caption, curve panel, log line and protocol
entry reads these declarations; nothing else in colorbench names a loss or a metric. A metric is
computed either per image (``compute(batch) -> (N,)`` values, averaged over the val split) or per
set (``compute(MeasureSet) -> SetValue``: one value with its uncertainty for a whole val set of
real and colorized images, e.g. a two-sample test or FID). A metric whose needs are not met (a
weights file, a critic, human judgments) is not computed, and says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

IMAGE, SET = "image", "set"  # scope: one value per val image, or one per whole val set
LOSS, METRIC = "loss", "metric"  # kind: a training loss (per epoch) or a val metric
LOWER, HIGHER = "lower", "higher"
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Prefixes and suffixes the store and the reports add to a measure's name (``gray_ciede2000``,
# ``val_loss_G``, ``ciede2000_mean``): a name must not collide with them.
RESERVED_NAMES = frozenset({"epoch", "image_id", "seed", "order", "setting", "parameters", "train_minutes"})


@dataclass(frozen=True)
class Need:
    """Something a metric needs before it can be computed (a weights file, a critic, judgments).

    ``check()`` returns None when the need is met, else the one-line reason ("weights file
    ~/.cache/x.pth is missing: put it there or ..."), which every report shows as "not computed".
    """

    kind: str  # "weights", "critic", "judgments", ...
    description: str
    check: Callable[[], str | None]
    path: Path | None = None  # where a file is looked for, if it is one

    def problem(self) -> str | None:
        try:
            return self.check()
        except Exception as exc:  # a need's own check must not take a run down
            return f"{self.description}: its check failed ({type(exc).__name__}: {exc})"


@dataclass(frozen=True)
class SetValue:
    """A per-set metric's result: the value, its uncertainty and how many items it rests on."""

    value: float
    low: float | None = None  # interval, when the metric has one (its Measure.interval says which)
    high: float | None = None
    std: float | None = None
    n: int | None = None
    cost_s: float | None = None  # wall time of the computation (shared ones: stated on each)


class ImageBatch:
    """One val batch in the harness's normalised units, with the derived images metrics share.

    ``l_norm`` (N, 1, H, W) in [-1, 1]; ``ab_pred``, ``ab_true`` (N, 2, H, W) as ab / 110 (see
    :mod:`colorbench.color`), all float32. Derived tensors (sRGB, L*a*b*) are computed once per
    batch however many metrics read them; :meth:`shared` caches any other intermediate by key.
    """

    def __init__(self, l_norm: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> None:
        self.l_norm, self.ab_pred, self.ab_true = l_norm.float(), ab_pred.float(), ab_true.float()
        self._shared: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        return int(self.l_norm.shape[0])

    @cached_property
    def rgb_pred(self) -> torch.Tensor:
        from colorbench.color import normalized_to_rgb

        return normalized_to_rgb(self.l_norm, self.ab_pred)

    @cached_property
    def rgb_true(self) -> torch.Tensor:
        from colorbench.color import normalized_to_rgb

        return normalized_to_rgb(self.l_norm, self.ab_true)

    @cached_property
    def lab_pred(self) -> torch.Tensor:
        from colorbench.color import denormalize_lab

        return denormalize_lab(self.l_norm, self.ab_pred)

    @cached_property
    def lab_true(self) -> torch.Tensor:
        from colorbench.color import denormalize_lab

        return denormalize_lab(self.l_norm, self.ab_true)

    def shared(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``compute()``, once per batch for each ``key`` (colourfulness for CF and |ΔCF|, say)."""
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]


@dataclass(frozen=True)
class MeasureSet:
    """What a per-set metric sees: the whole val split, real and colorized, as sRGB in [0, 1]."""

    image_ids: tuple[str, ...]
    real: torch.Tensor  # (N, 3, H, W)
    predicted: torch.Tensor  # (N, 3, H, W)
    seed: int  # the run's seed: a per-set metric that draws at random draws from this


@dataclass(frozen=True)
class Measure:
    """One measured quantity: a training loss or a val metric, and everything shown about it.

    ``name`` is its column in the results store and every frame; ``label`` a table header,
    ``short`` a grid caption, ``tex`` a LaTeX header (default: ``label``). ``ranked``: False for a
    description that is not a score (colourfulness: more is not better by itself); ``direction``
    then says which way is larger. ``gray_degenerate``: the gray image (ab = 0) is no fair
    reference on it (gray's |ΔCF| is the truth's own colourfulness), so "beats gray" means little.
    ``table`` / ``tex_default`` / ``forest`` / ``curve`` / ``console`` / ``log``: where it is shown
    by default (the study table, CSV and analysis; the LaTeX selection; the forest plot; the
    position of its training-curve panel; ``colorbench train``'s summary; the position in the
    trainer's evaluation log line). ``compute``: per image
    ``ImageBatch -> (N,)``, per set ``MeasureSet -> SetValue`` (losses are computed by the
    objective and have none).
    """

    name: str
    label: str
    unit: str
    direction: str  # "lower" or "higher" is better (for unranked: which way is larger)
    description: str
    kind: str = METRIC
    scope: str = IMAGE
    splits: tuple[str, ...] = ("val",)
    variant: str = ""
    short: str = ""
    tex: str = ""
    ranked: bool = True
    gray_degenerate: bool = False
    needs: tuple[Need, ...] = ()
    compute: Callable | None = field(default=None, compare=False, repr=False)
    table: bool = True
    tex_default: bool = True
    forest: bool = False
    curve: int = 0  # position of its training-curve panel (0: none)
    console: bool = False
    log: int = 0  # position in the trainer's evaluation log line (0: not shown)
    default_verdict: bool = False  # the default of a report's verdict (one metric, one loss)
    truth_reference: bool = False  # a property of the truth, not of a prediction (stated, not ranked)
    caption_format: str = ".3g"  # how a grid caption formats the value
    # A note every report shows when the metric has values; ``{n}`` becomes the runs' val images.
    report_note: str = ""
    # What a per-set metric's low-high interval is called in reports: its measured coverage where
    # that differs from the nominal level (the C2ST's bootstrap), so no report claims more.
    interval: str = "95%"

    def __post_init__(self) -> None:
        problem = declaration_problem(self)
        if problem is not None:
            raise ValueError(f"measure {self.name!r}: {problem}")

    @property
    def short_label(self) -> str:
        return self.short or self.label

    @property
    def tex_label(self) -> str:
        return self.tex or self.label

    @property
    def reading(self) -> str:
        return f"{self.direction} is better" if self.ranked else "not ranked (a description, not a score)"

    @property
    def per_image(self) -> bool:
        return self.scope == IMAGE

    def unmet_needs(self) -> list[str]:
        """Why it cannot be computed here, one line per unmet need (empty: it can)."""
        return [p for p in (need.problem() for need in self.needs) if p]

    def caption(self, value: float) -> str:
        """A grid caption, e.g. ``ΔE00 12.3``."""
        return f"{self.short_label} {value:{self.caption_format}}"


def declaration_problem(measure: object) -> str | None:
    """What is wrong with a declaration (None: nothing), in words a plugin author can act on."""
    if not isinstance(measure, Measure):
        return f"is a {type(measure).__name__}, not a colorbench.measures.Measure"
    m = measure
    if not isinstance(m.name, str) or not NAME_PATTERN.match(m.name):
        return f"name {m.name!r} must be letters, digits and underscores, starting with a letter"
    if m.name in RESERVED_NAMES or m.name.startswith(("gray_", "val_", "version_")):
        return f"name {m.name!r} is reserved (or starts with gray_, val_ or version_)"
    if m.direction not in (LOWER, HIGHER):
        return f"direction must be {LOWER!r} or {HIGHER!r}, got {m.direction!r}"
    if m.kind not in (LOSS, METRIC):
        return f"kind must be {LOSS!r} or {METRIC!r}, got {m.kind!r}"
    if m.scope not in (IMAGE, SET):
        return f"scope must be {IMAGE!r} or {SET!r}, got {m.scope!r}"
    if not m.label or not isinstance(m.label, str):
        return "needs a label (the table header)"
    if not isinstance(m.unit, str) or not isinstance(m.description, str):
        return "unit and description must be strings"
    if m.kind == METRIC and not callable(m.compute):
        return "a metric needs a compute function"
    if not all(isinstance(n, Need) for n in m.needs):
        return "needs must be colorbench.measures.Need records"
    return None
