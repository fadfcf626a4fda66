"""``colorbench report``: table layout and numbers, seeds, influence ranking, every format, odd stores.

Stores are built by hand (see test_results.py), so every number below is known in advance.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image
from test_results import (
    CLAIM_EFFECTS,
    GRAY,
    SETTINGS,
    TABLE_ORDER,
    odd_store,
    study_store,
    write_study,
)

from colorbench.cli import main
from colorbench.errors import ColorbenchError
from colorbench.report import build_report, write_report
from colorbench.report.grids import image_grid
from colorbench.report.render import tex_escape
from colorbench.report.tables import COLUMNS, aggregate
from colorbench.store.reader import load_runs

T_975_DF2 = 4.302652729749464  # Student t 97.5% quantile, 2 degrees of freedom


@pytest.fixture(scope="module")
def full_store(tmp_path_factory) -> Path:
    return study_store(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def full_report(full_store):
    """With figures (the slow part: matplotlib), built once; each write sets the figures' src again."""
    return build_report(full_store, "full")


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> Path:
    return odd_store(tmp_path_factory.mktemp("odd"))


def column_index(key: str) -> int:
    return [c.key for c in COLUMNS].index(key)


# --------------------------------------------------------------------------- numbers
def test_aggregate_mean_std_ci_on_known_values():
    stat = aggregate([1.0, 2.0, 3.0, float("nan")])
    assert (stat.mean, stat.std, stat.n) == (2.0, 1.0, 3)
    assert stat.ci95 == pytest.approx(T_975_DF2 / math.sqrt(3))
    single = aggregate([5.0])
    assert (single.mean, single.std, single.ci95, single.n) == (5.0, None, None, 1)
    assert aggregate([]).n == 0 and aggregate([float("inf")]).mean is None


def test_table_rows_columns_numbers_and_best(full_store):
    report = build_report(full_store, "full", with_figures=False)
    (section,) = report.sections
    rows = section.table.rows
    assert [r.label for r in rows] == TABLE_ORDER
    assert [c.key for c in COLUMNS] == [
        "loss_G_GAN",
        "loss_G_L1",
        "loss_G",
        "l1_ab",
        "psnr",
        "ssim",
        "ciede2000",
        "dcf",
        "auc",
    ]
    default = rows[0].cells[column_index("loss_G")].stat
    # seeds 0, 1, 2 scale the value by 0.999, 1, 1.001: mean 12, sample std 12 * 0.001
    assert default.mean == pytest.approx(12.0) and default.std == pytest.approx(0.012) and default.n == 3
    assert default.ci95 == pytest.approx(T_975_DF2 * 0.012 / math.sqrt(3))
    he = rows[TABLE_ORDER.index("He init")]
    assert he.cells[column_index("psnr")].stat.mean == pytest.approx(24.0 * 1.4)
    best_loss = {r.label for r in rows if r.cells[column_index("loss_G")].best}
    assert best_loss == {"Higher batch", "Glorot init"}  # both -10 %: every tie is marked
    assert {r.label for r in rows if r.cells[column_index("psnr")].best} == {"He init"}  # higher is better
    gray = section.table.gray
    assert gray.is_reference and gray.cells[column_index("psnr")].stat.mean == pytest.approx(GRAY["psnr"])
    assert gray.cells[column_index("loss_G")].stat.n == 0


def test_markdown_table_text(full_store, tmp_path):
    report = build_report(full_store, "full", with_figures=False)
    write_report(report, "markdown", tmp_path / "r.md")
    lines = (tmp_path / "r.md").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| Setting |"))
    assert lines[header] == (
        "| Setting | Change | n | Loss G GAN ↓ | Loss G L1 ↓ | Loss G ↓ | L1 ↓ | PSNR ↑ | SSIM ↑ | "
        "CIEDE2000 ↓ | \\|ΔCF\\| ↓ | AuC ↑ |"
    )
    assert lines[header + 2] == (
        "| Default | baseline | 3 | 2.000 ± 0.002 | 10.00 ± 0.01 | 12.00 ± 0.01 | 0.0900 ± 0.0001 | "
        "24.00 ± 0.02 | 0.900 ± 0.001 | 10.00 ± 0.01 | 20.00 ± 0.02 | 0.900 ± 0.001 |"
    )
    table = lines[header + 2 : header + 2 + len(SETTINGS) + 1]
    assert [line.split(" | ")[0].removeprefix("| ") for line in table] == [*TABLE_ORDER, "Gray (ab = 0)"]
    assert "**1.800 ± 0.002**" in table[TABLE_ORDER.index("Higher batch")]
    assert all(line.count("|") == lines[header].count("|") - 2 for line in table)  # 2 escaped pipes


# --------------------------------------------------------------------------- influence
def test_influence_ranks_the_claimed_order_when_it_is_built_in(full_store):
    report = build_report(full_store, "full", with_figures=False)
    inf = report.sections[0].influence
    assert [f.factor for f in inf.factors] == ["init", "batch", "layers", "lr"]
    assert inf.claim_holds is True and inf.basis == "change / seed sd"
    effect = inf.factors[0].effects["loss_G"]
    assert effect.level == "He init" and effect.change == pytest.approx(12.0 * 0.4)
    # pooled seed sd over Default, Glorot and He: 12 * 0.001 * rms(1, 0.9, 1.4)
    pooled = 0.012 * math.sqrt((1 + 0.9**2 + 1.4**2) / 3)
    assert effect.seed_sd == pytest.approx(pooled) and effect.z == pytest.approx(4.8 / pooled)
    assert (
        "holds on this data, at this scale (16 px, 3 epochs, 24 train images), with this many seeds "
        "(3 seeds per setting)" in inf.sentence
    )
    assert "weight init > batch size > depth > learning rate" in inf.sentence


def test_influence_says_when_the_claim_fails_and_when_effects_are_noise(tmp_path):
    effects = {**CLAIM_EFFECTS, "lr=0.001": 0.6}
    study_store(tmp_path, effects=effects, noise=0.05)
    inf = build_report(tmp_path, "full", with_figures=False).sections[0].influence
    assert inf.factors[0].factor == "lr" and inf.claim_holds is False
    assert "does not hold" in inf.sentence
    # depth moves by 8 % with a 5 % seed sd: under two standard deviations
    assert "depth stays under 2 seed standard deviations" in inf.sentence


def test_influence_with_one_seed_and_with_one_factor(tmp_path):
    study_store(tmp_path / "one", seeds=(0,))
    inf = build_report(tmp_path / "one", "full", with_figures=False).sections[0].influence
    assert inf.basis == "absolute change" and inf.claim_holds is True
    assert "1 seed per setting" in inf.sentence and "may be noise" in inf.sentence
    root = study_store(tmp_path / "init", seeds=(0,))
    record = root / "studies" / "full.json"
    runs = load_runs(root)
    keep = runs[runs["factor"].isin(["init"]) | runs["factor"].isna()]
    write_study(
        root,
        "init-only",
        SETTINGS,
        [
            {"setting": r.setting, "generator": "unet", "seed": 0, "run_id": r.run_id, "status": "planned"}
            for r in keep.itertuples()
        ],
    )
    record.unlink()
    inf = build_report(root, "init-only", with_figures=False).sections[0].influence
    assert inf.claim_holds is None and "cannot be checked" in inf.sentence


# --------------------------------------------------------------------------- formats
class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def _html_refs(path: Path) -> _Refs:
    parser = _Refs()
    parser.feed(path.read_text())
    parser.close()
    return parser


def test_html_parses_and_references_only_existing_files(full_report, tmp_path):
    paths = write_report(full_report, "html", tmp_path / "out" / "index.html")
    refs = _html_refs(paths[0])
    assert {"table", "img", "figure"} <= set(refs.tags)
    assert len(refs.refs) == 2  # the grid and the curves
    for ref in refs.refs:
        assert not ref.startswith(("/", "http")) and (paths[0].parent / ref).is_file(), ref
    grid = Image.open(paths[0].parent / "index-unet-grid.png")
    assert grid.height > len(SETTINGS) * 72 and grid.width > 2 * 3 * 72  # 9 rows, 2 images x 3 tiles


def test_embedded_html_is_one_self_contained_file(full_report, tmp_path):
    paths = write_report(full_report, "html", tmp_path / "r.html", embed_images=True)
    assert paths == [tmp_path / "r.html"] and sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    refs = _html_refs(paths[0]).refs
    assert len(refs) == 2 and all(r.startswith("data:image/png;base64,") for r in refs)
    assert base64.b64decode(refs[0].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_odd_store_renders_in_every_format(odd, tmp_path):
    report = build_report(odd, "odd")
    table = report.sections[0].table
    notes = {r.label: r.note for r in table.rows}
    assert notes["Higher LR"].startswith("diverged") and notes["n_down = 9"].startswith("infeasible")
    assert notes["Lower batch"] == "not-started" and notes["He init"].startswith("failed")
    assert notes["Higher batch"].startswith("unreadable")
    glorot = next(r for r in table.rows if r.label == "Glorot init")
    assert glorot.cells[column_index("ssim")].stat.n == 0  # the missing metric: n/a, not a crash
    for fmt, name in (("html", "r.html"), ("latex", "r.tex"), ("markdown", "r.md"), ("csv", "r.csv")):
        text = write_report(report, fmt, tmp_path / name)[0].read_text()
        assert "infeasible" in text and "diverged" in text and "not-started" in text
    assert "n/a" in (tmp_path / "r.md").read_text()
    frame = pd.read_csv(tmp_path / "r.csv")
    assert len(frame) == len(table.rows) + 1 and frame["loss_G_mean"].notna().sum() == 4
    assert set(frame.loc[frame["loss_G_best"], "label"]) == set()  # four equal values: no best


def test_csv_report_holds_the_raw_aggregates(full_store, tmp_path):
    write_report(build_report(full_store, "full", with_figures=False), "csv", tmp_path / "r.csv")
    frame = pd.read_csv(tmp_path / "r.csv")
    default = frame[frame["setting"] == "default"].iloc[0]
    assert default["loss_G_mean"] == pytest.approx(12.0) and default["loss_G_std"] == pytest.approx(0.012)
    assert default["n_seeds"] == 3 and frame["label"].tolist() == [*TABLE_ORDER, "Gray (ab = 0)"]
    assert frame.loc[frame["setting"] == "gray", "psnr_mean"].item() == pytest.approx(GRAY["psnr"])


def test_tex_escape_makes_any_label_safe():
    assert tex_escape("a_b & 50% #1 $x {y} ~ ^") == r"a\_b \& 50\% \#1 \$x \{y\} $\sim$ \^{}"
    assert tex_escape("|ΔCF| ± 0.1 ≥ ü →") == r"$|$$\Delta$CF$|$ $\pm$ 0.1 $\ge$ u $\rightarrow$"
    assert tex_escape("C:\\path<x>") == r"C:$\backslash$path$<$x$>$"


def _pdflatex(tex: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=tex.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex is not installed (apt-get install -y --no-install-recommends texlive-latex-recommended)",
)
def test_latex_compiles_standalone_and_as_fragments(odd, full_report, tmp_path):
    for report in (build_report(odd, "odd"), full_report):
        out = tmp_path / report.study["name"]
        paths = write_report(report, "latex", out / "report.tex")
        names = sorted(p.name for p in paths)
        assert "report-unet-table.tex" in names and "report-unet-grid.png" in names
        result = _pdflatex(out / "report.tex")
        assert result.returncode == 0, result.stdout[-3000:]
        assert (out / "report.pdf").stat().st_size > 0
    host = tmp_path / "full" / "paper.tex"
    host.write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\usepackage{graphicx}\\begin{document}\n"
        "\\input{report-unet-table}\n\\input{report-unet-influence}\n\\end{document}\n"
    )
    result = _pdflatex(host)
    assert result.returncode == 0, result.stdout[-3000:]


# --------------------------------------------------------------------------- CLI
def test_cli_default_output_template_and_option_errors(full_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["report", "--out", str(full_store), "--format", "markdown", "--no-figures"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "full" / "report.md").is_file()
    custom = tmp_path / "mine.md.j2"
    custom.write_text(
        "{{ report.title }}: {% for s in report.sections %}{{ s.influence.sentence }}{% endfor %}\n"
    )
    result = runner.invoke(
        main,
        [
            "report",
            "--out",
            str(full_store),
            "--format",
            "markdown",
            "--template",
            str(custom),
            "-o",
            "x.md",
            "--no-figures",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x.md").read_text().startswith("colorbench study full: The study's claim")
    for args, message in (
        (["--format", "latex", "--embed-images"], "--embed-images applies to --format html only"),
        (["--format", "html", "--template", "missing.j2"], "template missing.j2 does not exist"),
    ):
        result = runner.invoke(main, ["report", "--out", str(full_store), "--no-figures", *args])
        assert result.exit_code == 2 and result.output.strip().splitlines() == [f"error: {message}"]


def test_cli_one_output_for_several_studies_is_refused(full_store, tmp_path):
    write_study(full_store, "other", SETTINGS[:1], [])
    try:
        result = CliRunner().invoke(
            main, ["report", "--out", str(full_store), "--format", "csv", "-o", "x.csv"]
        )
    finally:
        (full_store / "studies" / "other.json").unlink()
    assert result.exit_code == 2 and "2 studies were selected" in result.output


def test_two_generators_keep_the_record_order(tmp_path):
    study_store(tmp_path, name="a", generator="zhang", seeds=(0,))
    study_store(tmp_path, name="b", generator="unet", seeds=(0,))
    records = [json.loads((tmp_path / "studies" / f"{n}.json").read_text()) for n in ("a", "b")]
    merged = {
        **records[1],
        "name": "both",
        "plugins": ["unet", "zhang"],
        "runs": records[1]["runs"] + records[0]["runs"],
    }
    (tmp_path / "studies" / "both.json").write_text(json.dumps(merged))
    report = build_report(tmp_path, "both", with_figures=False)
    assert [s.generator for s in report.sections] == ["unet", "zhang"]
    assert all([r.label for r in s.table.rows][:7] == TABLE_ORDER[:7] for s in report.sections)


def test_grid_without_samples_is_none_and_unknown_interval_is_an_error(odd, tmp_path):
    runs = load_runs(odd)
    assert image_grid(runs[runs["status"] != "completed"]) is None
    with pytest.raises(ColorbenchError, match="unknown interval"):
        build_report(odd, "odd", interval="iqr")


def test_ci95_interval_is_named_and_shown(full_store, tmp_path):
    report = build_report(full_store, "full", interval="ci95", with_figures=False)
    text = write_report(report, "markdown", tmp_path / "r.md")[0].read_text()
    assert "95% Student-t confidence interval" in text
    half = T_975_DF2 * 0.012 / math.sqrt(3)
    assert f"12.00 ± {half:.2f}" in text


def test_protocol_names_each_data_cache_format_the_runs_used(tmp_path):
    study_store(tmp_path, name="mixed", seeds=(0,))
    configs = sorted(tmp_path.glob("*/config.json"))
    for i, path in enumerate(configs):  # a store that outlived a change of the prepared-data format
        record = json.loads(path.read_text())
        record["data"]["format_version"] = 1 if i == 0 else 2
        path.write_text(json.dumps(record))
    report = build_report(tmp_path, "mixed", with_figures=False)
    (data_item,) = [item for item in report.protocol if item.name == "Data"]
    assert "cache format 1" in data_item.value and "cache format 2" in data_item.value
