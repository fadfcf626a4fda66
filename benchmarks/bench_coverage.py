"""Calibration of colorbench.analysis on simulated studies with known effects (colorbench.analysis.simulate).

Studies of the example report's shape (9 settings x 3 or 2 seeds x 47 val images, ΔE00): coverage of
the 95% intervals against Default per noise structure, and on null studies (no effect, every setting
as good as gray) the per-interval false exclusion of 0 and the family-wise error rates of "beats
gray" (uncorrected and Holm), of the effects table (uncorrected and Benjamini-Hochberg) and of the
"best" mark. Prints a Markdown section; ``--write`` replaces the section of benchmarks/RESULTS.md.

    nice -n 10 python benchmarks/bench_coverage.py [--studies 1000] [--null-studies 500] [--write]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from colorbench.analysis import simulate

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADING = "## Calibration of the statistics (bench_coverage.py)"
NOISE_ONLY = simulate.Case("noise only (no seed or repeating image term)", 0.0, 0.0, 1.0)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def section(n_studies: int, n_null: int, seeds: tuple[int, ...]) -> str:
    started, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
    cases = (*simulate.CASES, NOISE_ONLY)
    lines = [
        HEADING,
        "",
        "`nice -n 10 python benchmarks/bench_coverage.py"
        f" --studies {n_studies} --null-studies {n_null} --write`;"
        f" simulator `colorbench/analysis/simulate.py` (9 settings x seeds x 47 images, true effects"
        f" {', '.join(f'{v:+.2f}' for v in simulate.TRUE_EFFECTS.values())} ΔE00 against Default).",
        "Sds (seed term, repeating image term, noise): image-dominated (0.1, 0.5, 0.7); seed-dominated,"
        " skewed and uneven (0.5, 0.2, 1.0), skewed with a centred lognormal seed term (skewness ~6),"
        " uneven with the seed sd 0.25-3x between settings; noise only (0, 0, 1).",
        "The figures of record (docs/reports.md and README link here); the report's note on intervals"
        " quotes the skewed rows (`SKEWED_MEASURED` in `colorbench/analysis/simulate.py`, kept equal to"
        " these by `tests/test_coverage.py`: update it after a rerun).",
        "",
        "### Coverage of the 95% intervals against Default",
        "",
        f"{n_studies} studies per cell, 8 intervals each ({8 * n_studies} intervals; binomial SE of a 95% "
        f"coverage {100 * (0.95 * 0.05 / (8 * n_studies)) ** 0.5:.2f} points,"
        " more with the studies' shared Default).",
        "",
        "| case | " + " | ".join(f"{s} seeds" for s in seeds) + " | mean width, " + f"{seeds[0]} seeds |",
        "|---|" + "---:|" * (len(seeds) + 1),
    ]
    for case in cases:
        found = [simulate.coverage(case, n_studies, n_seeds=s, n_boot=100, seed=11) for s in seeds]
        lines.append(
            f"| {case.name} | "
            + " | ".join(_pct(c.coverage) for c in found)
            + f" | {found[0].mean_width:.2f} |"
        )
    lines += [
        "",
        "### Null studies: false exclusions and family-wise error",
        "",
        f"{n_null} null studies per row (every true effect 0, gray as good as every setting), B = 200.",
        "Per interval: share of effect intervals that exclude 0. Studies: share with at least one false"
        ' call on the metric: an effect (uncorrected / after BH), a "better than gray" (uncorrected /'
        ' after Holm, what the report counts), a "best" mark.',
        "",
        "| case | seeds | per interval | any effect, uncorr. | any effect, BH | beats gray, uncorr. |"
        " beats gray, Holm | best |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in simulate.CASES:
        for s in seeds:
            e = simulate.null_errors(case, n_null, n_seeds=s, n_boot=200, seed=12)
            lines.append(
                f"| {case.name} | {s} | {_pct(e.false_exclusion)} | {_pct(e.studies_any_exclusion)} | "
                f"{_pct(e.studies_any_significant)} | {_pct(e.fwer_beats_gray_uncorrected)} | "
                f"{_pct(e.fwer_beats_gray)} | {_pct(e.false_best)} |"
            )
            print(lines[-1], flush=True)
    lines += ["", cost_line(started, cpu0), ""]
    return "\n".join(lines)


def cost_line(started: float, cpu0: float) -> str:
    """The machine and what a section cost since ``started`` (perf_counter) and ``cpu0`` (user CPU s)."""
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0
    return (
        f"CPU: `{cpu_model()}`; {cpu / 60:.1f} min CPU, {(time.perf_counter() - started) / 60:.1f} min wall,"
        f" load average at the end {os.getloadavg()[0]:.1f} (shared machine)."
    )


def write(text: str, heading: str = HEADING) -> None:
    """Replace (or append) the section under ``heading`` (this script's by default) of RESULTS.md."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if heading in current:
        head, rest = current.split(heading, 1)
        after = rest.find("\n## ")
        current = head + text + ("\n" + rest[after + 1 :] if after >= 0 else "")  # a blank line before
    else:
        current = current.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1000, help="simulated studies per coverage cell")
    parser.add_argument("--null-studies", type=int, default=500, help="null studies per error-rate row")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 2])
    parser.add_argument("--quick", action="store_true", help="smallest run (smoke test)")
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.studies, args.null_studies, args.seeds = 5, 5, [3]
    text = section(args.studies, args.null_studies, tuple(args.seeds))
    print("\n" + text)
    if args.write and not args.quick:
        write(text)


if __name__ == "__main__":
    main()
