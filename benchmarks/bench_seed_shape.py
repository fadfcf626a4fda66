"""Could a 95% interval hold 94-96% under both normal and skewed seed noise with 3 seeds? (issue 21)

The intervals against Default cover ~95% where the seed term is normal (any sd per setting) and
~96.9% where it is a centred lognormal (benchmarks/RESULTS.md, "Calibration of the statistics").
This script measures, on the studies of :mod:`colorbench.analysis.simulate` and with the
analysis's own intervals (:func:`colorbench.analysis.effects.paired_effects`), the two ways a
construction could close that gap:

1. **A fixed change of width.** Every interval's half-width times ``k`` (equivalently another
   critical value for every contrast): the coverage of the seed-dominated, uneven and skewed
   cases side by side, for ``k`` from 1 down to 0.85.
2. **Telling the shapes apart from the data.** With 3 runs per setting, the only information on the
   seed term's shape that does not depend on its (per-setting) sd is the skewness of each setting's
   three seed means (three standardised values lie on a circle: their kurtosis is a constant). Under
   normal seed noise, whatever each setting's sd, that skewness is known exactly (mean 0,
   variance 1/4 for n = 3), so the pooled skewness over a study's 9 settings is a z statistic.
   Measured: how often it flags a skewed study, and the coverage of the intervals in flagged and
   unflagged studies (what an interval adapting on it could gain).
3. **By the reported df**: where the intervals' coverage comes from (Satterthwaite's df rises when
   the seed term reads small by chance).
4. **More seeds**: the coverage as reported with 3, 5 and 10 seeds per setting.

Prints a Markdown section; ``--write`` replaces the section of benchmarks/RESULTS.md.

    nice -n 10 python benchmarks/bench_seed_shape.py [--studies 2000] [--write]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

from colorbench.analysis import simulate
from colorbench.analysis.effects import paired_effects

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_coverage import cost_line, write  # noqa: E402  (one RESULTS.md writer)

HEADING = "## Seed-noise shape: narrowing or adapting the intervals (bench_seed_shape.py)"
CASES = tuple(c for c in simulate.CASES if c.name != "image-dominated")
WIDTHS = (1.0, 0.97, 0.95, 0.93, 0.91, 0.89, 0.87, 0.85)
N_SEEDS = 3
MORE_SEEDS = (3, 5, 10)
DF_BANDS = ((0, 2.2), (2.2, 3), (3, 10), (10, np.inf))
# For 3 values the sample skewness (biased, moments over n) lies in [-1/sqrt(2), 1/sqrt(2)]; under a
# normal seed term it is cos(3 theta) / sqrt(2) with theta uniform: mean 0, variance 1/4.
NULL_SKEW_VARIANCE = 0.25
Z_FLAG = 1.959963984540054


def pooled_skewness_z(per_image) -> dict[str, float]:
    """Per study (generator): the mean over settings of the skewness of its seed means, as a z score."""
    seed_means = per_image.groupby(["generator", "setting", "seed"], sort=False)[simulate.METRIC].mean()
    by_setting = seed_means.groupby(level=["generator", "setting"], sort=False)

    def skewness(values) -> float:
        deviations = values.to_numpy() - values.mean()
        spread = np.sqrt(np.mean(deviations**2))
        return float(np.mean(deviations**3) / spread**3) if spread > 0 else 0.0

    skew = by_setting.apply(skewness)
    pooled = skew.groupby(level="generator", sort=False).agg(["mean", "size"])
    return (pooled["mean"] / np.sqrt(NULL_SKEW_VARIANCE / pooled["size"])).to_dict()


def measure(case: simulate.Case, n_studies: int, seed: int) -> dict:
    per_image, _ = simulate.simulate_studies(np.random.default_rng(seed), case, n_studies, n_seeds=N_SEEDS)
    effects = paired_effects(per_image, n_boot=100, seed=seed)
    truth = effects["setting"].map(simulate.TRUE_EFFECTS).to_numpy()
    middle = ((effects["low"] + effects["high"]) / 2).to_numpy()
    half = ((effects["high"] - effects["low"]) / 2).to_numpy()
    error = np.abs(truth - middle)
    z = effects["generator"].map(pooled_skewness_z(per_image)).to_numpy()
    flagged = np.abs(z) > Z_FLAG
    return {
        "coverage": {k: float(np.mean(error <= k * half)) for k in WIDTHS},
        "flag_share": float(np.mean(flagged)),  # of intervals = of studies (8 intervals each)
        "mean_z": float(np.mean(z)),
        "flagged": float(np.mean(error[flagged] <= half[flagged])) if flagged.any() else float("nan"),
        "unflagged": float(np.mean(error[~flagged] <= half[~flagged])),
        "n_intervals": len(effects),
        "by_df": _by_df(effects["df"].to_numpy(), error <= half),
    }


def _by_df(df: np.ndarray, held: np.ndarray) -> dict[str, tuple[float, float]]:
    """(share of intervals, coverage) per band of the reported degrees of freedom."""
    bands = {}
    for low, high in DF_BANDS:
        inside = (df >= low) & (df < high)
        bands[f"{low:g}-{high:g}"] = (
            float(inside.mean()),
            float(held[inside].mean()) if inside.any() else np.nan,
        )
    return bands


def _pct(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{100 * x:.1f}%"


def section(n_studies: int) -> str:
    started, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
    found = {case.name: measure(case, n_studies, seed=21) for case in CASES}
    n_intervals = next(iter(found.values()))["n_intervals"]
    se = 100 * (0.95 * 0.05 / n_intervals) ** 0.5
    lines = [
        HEADING,
        "",
        f"`nice -n 10 python benchmarks/bench_seed_shape.py --studies {n_studies} --write`; the studies of"
        " `colorbench/analysis/simulate.py` (cases as in the calibration section above), 3 seeds,"
        f" {n_studies} studies per case ({n_intervals} intervals against Default; binomial SE of a 95%"
        f" coverage {se:.2f} points). Intervals from `paired_effects`, as reports give them.",
        "",
        "### 1. One width change for every interval",
        "",
        "Coverage when every interval's half-width is multiplied by k (another critical value):",
        "",
        "| k | " + " | ".join(found) + " |",
        "|---:|" + "---:|" * len(found),
    ]
    for k in WIDTHS:
        lines.append(f"| {k:.2f} | " + " | ".join(_pct(f["coverage"][k]) for f in found.values()) + " |")
    misses = {k: max(abs(f["coverage"][k] - 0.95) for f in found.values()) for k in WIDTHS}
    best = min(misses, key=misses.get)
    lines += [
        "",
        f"Smallest largest miss of 95% over the cases: k = {best:.2f}, {100 * misses[best]:.1f} points"
        f" ({' / '.join(_pct(f['coverage'][best]) for f in found.values())}); as reported (k = 1)"
        f" {100 * misses[1.0]:.1f} points.",
        "",
        "### 2. What the data say about the shape",
        "",
        "Pooled skewness of each setting's 3 seed means over the study's 9 settings, as a z score (exact"
        " null: mean 0, variance 1/4 per setting under normal seed noise of any sd); flagged: |z| > 1.96."
        " Coverage of the intervals as reported (k = 1) in flagged and unflagged studies.",
        "",
        "| case | mean z | studies flagged | coverage, flagged | coverage, unflagged |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in found.items():
        lines.append(
            f"| {name} | {f['mean_z']:+.2f} | {_pct(f['flag_share'])} | {_pct(f['flagged'])} |"
            f" {_pct(f['unflagged'])} |"
        )
    lines += [
        "",
        "### 3. Coverage by the reported degrees of freedom",
        "",
        "Share of intervals and their coverage (k = 1) per band of the df a report gives (Satterthwaite's"
        " for the seed and image terms):",
        "",
        "| case | " + " | ".join(f"df {band}" for band in next(iter(found.values()))["by_df"]) + " |",
        "|---|" + "---:|" * len(DF_BANDS),
    ]
    for name, f in found.items():
        cells = [f"{_pct(share)}: {_pct(held)}" for share, held in f["by_df"].values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    more = max(n_studies // 5, 10)
    lines += [
        "",
        "### 4. More seeds",
        "",
        f"Coverage of the intervals as reported, {more} studies per cell ({8 * more} intervals):",
        "",
        "| case | " + " | ".join(f"{s} seeds" for s in MORE_SEEDS) + " |",
        "|---|" + "---:|" * len(MORE_SEEDS),
    ]
    for case in CASES:
        found_more = [simulate.coverage(case, more, n_seeds=s, n_boot=100, seed=22) for s in MORE_SEEDS]
        lines.append(f"| {case.name} | " + " | ".join(_pct(c.coverage) for c in found_more) + " |")
    lines += ["", cost_line(started, cpu0), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000, help="simulated studies per case")
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args()
    text = section(args.studies)
    print("\n" + text)
    if args.write:
        write(text, HEADING)


if __name__ == "__main__":
    main()
