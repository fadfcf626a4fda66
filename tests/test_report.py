"""``colorbench report``: tables, marks the statistics earn, verdicts, every format, odd and hostile stores.

Stores are built by hand (test_results.py writes colorbench 0.1.0's format without per-image metrics;
store_builder.py today's format with per-image metrics of known effects), so the answers are known.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from store_builder import SETTINGS as BUILT_SETTINGS
from store_builder import write_store
from test_results import GRAY, SETTINGS, TABLE_ORDER, odd_store, study_store, write_study

from colorbench.cli import main
from colorbench.errors import ColorbenchError
from colorbench.report import build_report, write_report
from colorbench.report.render import md_escape, tex_escape
from colorbench.report.tables import COLUMNS, aggregate

T_975_DF2 = 4.302652729749464  # Student t 97.5% quantile, 2 degrees of freedom
HAS_PDFLATEX = shutil.which("pdflatex") is not None
needs_pdflatex = pytest.mark.skipif(
    not HAS_PDFLATEX,
    reason="pdflatex is not installed (apt-get install -y --no-install-recommends texlive-latex-recommended)",
)
CLAIMED = {"init=kaiming": 3.0, "batch=32": 2.0, "layers=n_down_7": 1.0, "lr=0.001": 0.2}
REVERSED = {"lr=0.001": 3.0, "layers=n_down_7": 2.0, "batch=32": 1.0, "init=kaiming": 0.2}


@pytest.fixture(scope="module")
def full_store(tmp_path_factory) -> Path:
    return study_store(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> Path:
    return odd_store(tmp_path_factory.mktemp("odd"))


@pytest.fixture(scope="module")
def claimed(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("claimed"), name="claimed", effects=CLAIMED)


@pytest.fixture(scope="module")
def claimed_report(claimed):
    """With figures (the slow part: matplotlib), built once; each write sets the figures' src again."""
    return build_report(claimed, "claimed")


# --------------------------------------------------------------------------- numbers of old stores
def test_aggregate_mean_std_ci_on_known_values():
    stat = aggregate([1.0, 2.0, 3.0, float("nan")])
    assert (stat.mean, stat.std, stat.n) == (2.0, 1.0, 3)
    assert stat.ci95 == pytest.approx(T_975_DF2 / math.sqrt(3))
    single = aggregate([5.0])
    assert (single.mean, single.std, single.ci95, single.n) == (5.0, None, None, 1)
    assert aggregate([]).n == 0 and aggregate([float("inf")]).mean is None


def test_an_old_store_renders_its_table_without_marks(full_store):
    """Format-1 stores have no per-image metrics: numbers, but no marks, intervals or verdicts."""
    report = build_report(full_store, "full", with_figures=False)
    (section,) = report.sections
    rows = section.table.rows
    assert [r.label for r in rows] == TABLE_ORDER
    default = rows[0].cells["loss_G"].stat
    # seeds 0, 1, 2 scale the value by 0.999, 1, 1.001: mean 12, sample std 12 * 0.001
    assert default.mean == pytest.approx(12.0) and default.std == pytest.approx(0.012) and default.n == 3
    assert not any(c.best for r in rows for c in r.cells.values())
    assert section.effects is None and section.verdicts == [] and section.headline is None
    assert any("No per-image metrics" in n for n in report.notes)
    gray = section.table.gray
    assert gray.is_reference and gray.cells["psnr"].stat.mean == pytest.approx(GRAY["psnr"])


def test_markdown_table_text_of_an_old_store(full_store, tmp_path):
    report = build_report(full_store, "full", with_figures=False)
    write_report(report, "markdown", tmp_path / "r.md", columns=["loss_G", "psnr", "dcf"])
    lines = (tmp_path / "r.md").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| Setting |"))
    assert lines[header] == "| Setting | Change | n | Loss G ↓ | PSNR ↑ | \\|ΔCF\\| ↓ |"
    assert lines[header + 2] == "| Default | baseline | 3 | 12.00 ± 0.01 | 24.00 ± 0.02 | 20.00 ± 0.02 |"
    table = lines[header + 2 : header + 2 + len(SETTINGS) + 1]
    labels = [line.split(" | ")[0].removeprefix("| ").replace("\\_", "_") for line in table]
    assert labels == [*TABLE_ORDER, "Gray (ab = 0)"]


# --------------------------------------------------------------------------- what the statistics earn
def test_verdict_supported_when_the_effects_follow_the_claim(claimed_report):
    (section,) = claimed_report.sections
    metric_verdict = next(v for v in section.verdicts if "on CIEDE2000" in v)
    assert metric_verdict.startswith("supported on CIEDE2000 for U-Net")
    assert "weight init > batch size > depth > learning rate" in metric_verdict
    loss_verdict = next(v for v in section.verdicts if "on Loss G" in v)
    assert loss_verdict.startswith(("supported", "unresolved"))  # 3 seeds of one number per run


def test_verdict_contradicted_on_the_reversed_order(tmp_path):
    report = build_report(write_store(tmp_path, name="rev", effects=REVERSED), "rev", with_figures=False)
    verdict = next(v for v in report.sections[0].verdicts if "on CIEDE2000" in v)
    assert verdict.startswith("contradicted on CIEDE2000 for U-Net")


def test_verdict_unresolved_on_noise(tmp_path):
    report = build_report(write_store(tmp_path, name="noise", noise=1.0), "noise", with_figures=False)
    verdict = next(v for v in report.sections[0].verdicts if "on CIEDE2000" in v)
    assert verdict.startswith("unresolved on CIEDE2000 for U-Net")


def test_a_setting_equal_to_gray_is_never_best_and_does_not_beat_gray(tmp_path):
    # Glorot predicts gray exactly; every other setting is slightly worse than gray on CIEDE2000.
    store = write_store(
        tmp_path, name="g", effects={s[0]: 1.0 for s in BUILT_SETTINGS}, same_as_gray=("init=xavier",)
    )
    report = build_report(store, "g", with_figures=False)
    table = report.sections[0].table
    glorot = next(r for r in table.rows if r.setting == "init=xavier")
    for key in ("ciede2000", "psnr", "l1_ab", "ssim", "auc"):
        assert not glorot.cells[key].best and glorot.cells[key].versus_gray == "", key
    assert not any(r.cells["ciede2000"].best for r in table.rows)
    assert table.column_notes["ciede2000"] == "no setting beats gray beyond noise"
    gray_effects = report.analysis.gray_effects
    reading = gray_effects[
        (gray_effects["setting"] == "init=xavier") & (gray_effects["metric"] == "ciede2000")
    ]
    assert reading["versus_gray"].item() == "indistinguishable from gray"
    assert report.sections[0].headline.startswith("0 of 9 U-Net settings beat gray on CIEDE2000")


def test_a_clear_winner_is_bold_and_close_ones_are_tied(tmp_path):
    effects = {"batch=32": -3.0, "init=kaiming": 2.0}  # lower CIEDE2000 is better: batch 32 wins clearly
    report = build_report(write_store(tmp_path, name="w", effects=effects), "w", with_figures=False)
    table = report.sections[0].table
    assert [r.setting for r in table.rows if r.cells["ciede2000"].best] == ["batch=32"]
    assert table.rows[[r.setting for r in table.rows].index("batch=32")].cells["ciede2000"].versus_gray == "+"
    assert (
        table.rows[[r.setting for r in table.rows].index("init=kaiming")].cells["ciede2000"].versus_gray
        == "-"
    )
    # Every metric moves up with the built-in shift: on PSNR (higher is better) He init is the clear best.
    assert [r.setting for r in table.rows if r.cells["psnr"].best] == ["init=kaiming"]


def test_effects_have_intervals_that_cover_the_built_in_shift(claimed_report):
    effects = claimed_report.sections[0].effects
    he = effects.cell("init=kaiming", "ciede2000")
    assert he.low < 3.0 * 2.0 < he.high and he.excludes_zero  # shift 3 spreads of 2.0 dE00
    assert he.basis == "seeds and images"
    glorot = effects.cell("init=xavier", "ciede2000")
    assert not glorot.excludes_zero


def test_per_image_means_equal_the_summary(claimed):
    from colorbench.store.per_image import load_per_image
    from colorbench.store.reader import load_runs

    runs = load_runs(claimed)
    per_image, problems = load_per_image(runs)
    assert problems == []
    for row in runs.itertuples(index=False):
        mine = per_image[per_image["run_id"] == row.run_id]
        assert mine["ciede2000"].mean() == pytest.approx(row.ciede2000, rel=1e-12)


def test_results_per_image_gives_the_long_table(claimed):
    result = CliRunner().invoke(main, ["results", "--out", str(claimed), "--per-image"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(pd.io.common.StringIO(result.output))
    assert len(frame) == len(BUILT_SETTINGS) * 3 * 40
    assert {"image_id", "epoch", "ciede2000", "setting", "seed", "run_id"} <= set(frame.columns)


# --------------------------------------------------------------------------- formats
class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def _html(path: Path) -> _Refs:
    parser = _Refs()
    parser.feed(path.read_text())
    parser.close()
    return parser


def test_every_format_carries_the_same_notes_and_verdicts(claimed_report, tmp_path):
    texts = {}
    for fmt, name in (("html", "r.html"), ("latex", "r.tex"), ("markdown", "r.md"), ("csv", "r.csv")):
        texts[fmt] = write_report(claimed_report, fmt, tmp_path / name)[0].read_text()
    import html

    section = claimed_report.sections[0]
    for sentence in [*claimed_report.notes, *section.verdicts, section.headline]:
        probe = sentence[:60]
        assert probe in html.unescape(texts["html"]), probe
        assert md_escape(probe)[:50] in texts["markdown"], probe
        # Sentences carry labels, not keys, in every format (test_report_labels.py)
        assert tex_escape(probe)[:40] in texts["latex"], probe
        assert probe.replace('"', '""')[:50] in texts["csv"], probe
    assert "a demonstration of the harness" in texts["html"]  # 8 epochs on 190 images
    assert any("Scale:" in n for n in claimed_report.notes)


def test_html_references_only_existing_files_and_embeds(claimed_report, tmp_path):
    paths = write_report(claimed_report, "html", tmp_path / "out" / "index.html")
    refs = _html(paths[0])
    assert {"table", "img", "figure"} <= set(refs.tags)
    # The forest plot and the profile (from per-image values); the built store has no histories or samples.
    assert sorted(refs.refs) == ["index-study-forest.png", "index-unet-profile.png"]
    for ref in refs.refs:
        assert not ref.startswith(("/", "http")) and (paths[0].parent / ref).is_file(), ref
    embedded = write_report(claimed_report, "html", tmp_path / "e" / "r.html", embed_images=True)
    assert embedded == [tmp_path / "e" / "r.html"]
    data = [r for r in _html(embedded[0]).refs if r.startswith("data:image/png;base64,")]
    png = b"\x89PNG\r\n\x1a\n"
    assert len(data) == 2 and all(base64.b64decode(d.split(",", 1)[1])[:8] == png for d in data)


def test_odd_store_renders_in_every_format(odd, tmp_path):
    report = build_report(odd, "odd")
    table = report.sections[0].table
    notes = {r.label: r.note for r in table.rows}
    assert notes["Higher LR"].startswith("diverged") and notes["n_down = 9"].startswith("infeasible")
    assert notes["Lower batch"] == "not-started" and notes["He init"].startswith("failed")
    assert notes["Higher batch"].startswith("unreadable")
    glorot = next(r for r in table.rows if r.label == "Glorot init")
    assert glorot.cells["ssim"].stat.n == 0  # the missing metric: n/a, not a crash
    for fmt, name in (("html", "r.html"), ("latex", "r.tex"), ("markdown", "r.md"), ("csv", "r.csv")):
        text = write_report(report, fmt, tmp_path / name)[0].read_text()
        assert "infeasible" in text and "diverged" in text and "not-started" in text
    assert "n/a" in (tmp_path / "r.md").read_text()


def test_csv_report_holds_the_raw_aggregates(full_store, tmp_path):
    write_report(build_report(full_store, "full", with_figures=False), "csv", tmp_path / "r.csv")
    frame = pd.read_csv(tmp_path / "r.csv")
    table = frame[~frame["setting"].isin(["note", "verdict", "measure", "realism"])]
    default = table[table["setting"] == "default"].iloc[0]
    assert default["loss_G_mean"] == pytest.approx(12.0) and default["loss_G_std"] == pytest.approx(0.012)
    # Last, one row per loss or metric column says what it is (from its declaration).
    described = frame[frame["setting"] == "measure"].set_index("label")["note"]
    assert described["CIEDE2000"] == "ciede2000: CIEDE2000 [CIE dE00], lower is better"
    assert described["CF"].endswith("not ranked (a description, not a score)")
    assert frame["setting"].tolist()[-len(described) :] == ["measure"] * len(described)
    assert default["n_seeds"] == 3 and table["label"].tolist() == [*TABLE_ORDER, "Gray (ab = 0)"]
    assert table.loc[table["setting"] == "gray", "psnr_mean"].item() == pytest.approx(GRAY["psnr"])


def test_ci95_interval_is_named_and_shown(full_store, tmp_path):
    report = build_report(full_store, "full", interval="ci95", with_figures=False)
    text = write_report(report, "markdown", tmp_path / "r.md", columns=["loss_G"])[0].read_text()
    assert "95% Student-t confidence interval" in text
    half = T_975_DF2 * 0.012 / math.sqrt(3)
    assert f"12.00 ± {half:.2f}" in text


# --------------------------------------------------------------------------- text from a store is hostile
HOSTILE = "<script>alert(1)</script> \\input{/etc/passwd} 100% | a\nb ^ ~ {x} $y$ #z &"


def _hostile_store(root: Path) -> Path:
    return write_store(
        root,
        name="hostile",
        effects=CLAIMED,
        labels={"init=kaiming": HOSTILE, "default": "Default | *bold* [link](javascript:x)"},
        description=HOSTILE,
        image_prefix="<img src=x onerror=alert(1)>%|",
        reasons={"layers=n_down_5": HOSTILE},
    )


def test_tex_and_markdown_escape_every_special():
    assert tex_escape("a_b & 50% #1 $x {y} ~ ^ \\input{z}") == (
        r"a\_b \& 50\% \#1 \$x \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}input\{z\}"
    )
    assert tex_escape("line\n\nbreak") == "line break"  # no paragraph break inside a table cell
    assert md_escape("a | b\nc <script>") == r"a \| b c \<script\>"


def test_a_hostile_store_renders_in_every_format_without_injection(tmp_path):
    report = build_report(_hostile_store(tmp_path / "store"), "hostile")
    out = tmp_path / "out"
    html_text = write_report(report, "html", out / "r.html")[0].read_text()
    tags = set(_html(out / "r.html").tags)
    assert "script" not in tags and "img" not in {t for t in tags if t == "img" and "onerror" in html_text}
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text
    assert "onerror=alert" not in html_text.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    markdown = write_report(report, "markdown", out / "r.md")[0].read_text()
    columns = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = line.count("|") - line.count("\\|")
        columns = columns or cells
        assert cells == columns, line  # a cell never becomes two
    assert "<script>" not in markdown
    latex = write_report(report, "latex", out / "r.tex")[0].read_text()
    assert "\\input{/etc/passwd}" not in latex and "\\textbackslash{}input\\{/etc/passwd\\}" in latex
    frame = pd.read_csv(write_report(report, "csv", out / "r.csv")[0])
    assert HOSTILE in set(frame["label"].dropna()) | set(frame["note"].dropna().str.slice(0, len(HOSTILE)))
    if HAS_PDFLATEX:
        result = _pdflatex(out / "r.tex")
        assert result.returncode == 0, result.stdout[-3000:]


# --------------------------------------------------------------------------- LaTeX in a paper
def _pdflatex(tex: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=tex.parent,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _word_heights(pdf: Path) -> list[tuple[str, float]]:
    """(word, height in pt) of every word on the PDF's pages (poppler's pdftotext -bbox)."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    words = re.findall(
        r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>', html
    )
    return [(text, float(y1) - float(y0)) for y0, y1, text in words]


@needs_pdflatex
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed")
def test_latex_fragments_paste_into_a_two_column_paper_at_7pt_or_more(claimed_report, tmp_path):
    paths = write_report(claimed_report, "latex", tmp_path / "report.tex")
    names = {p.name for p in paths}
    assert {"report-unet-table.tex", "report-unet-effects.tex", "report-unet-verdict.tex"} <= names
    table = (tmp_path / "report-unet-table.tex").read_text()
    assert "\\resizebox" not in table and "\\begin{table*}" in table
    paper = tmp_path / "paper.tex"
    paper.write_text(
        "\\documentclass[10pt,twocolumn]{article}\\usepackage{booktabs}\\usepackage{graphicx}\n"
        "\\begin{document}\nSome text of the paper.\\par\n\\input{report-unet-verdict}\n"
        "\\input{report-unet-table}\n\\input{report-unet-effects}\n"
        "\\clearpage{\\scriptsize 0123456789}\n\\end{document}\n"
    )
    result = _pdflatex(paper)
    assert result.returncode == 0, result.stdout[-3000:]
    log = (tmp_path / "paper.log").read_text()
    overfull = [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(x < 1.0 for x in overfull), overfull  # the tables fit the page width
    words = _word_heights(tmp_path / "paper.pdf")
    # \scriptsize is 7 pt in a 10 pt article: its digits, set last, are the reference height.
    reference = next(h for word, h in reversed(words) if word == "0123456789")
    smallest = min(h for word, h in words[:-1] if re.search(r"\d", word))
    assert smallest >= reference - 0.01, (smallest, reference)  # no digit in the tables under 7 pt
    # The standalone report compiles too.
    result = _pdflatex(tmp_path / "report.tex")
    assert result.returncode == 0, result.stdout[-3000:]


@needs_pdflatex
def test_latex_compiles_for_an_old_and_an_odd_store(odd, full_store, tmp_path):
    for store, name in ((odd, "odd"), (full_store, "full")):
        out = tmp_path / name
        write_report(build_report(store, name), "latex", out / "report.tex")
        result = _pdflatex(out / "report.tex")
        assert result.returncode == 0, result.stdout[-3000:]


def test_a_bold_cell_is_bold_mean_and_spread(tmp_path):
    effects = {"batch=32": -3.0}
    report = build_report(write_store(tmp_path, name="b", effects=effects), "b", with_figures=False)
    latex = write_report(report, "latex", tmp_path / "r.tex", columns=["ciede2000"])[0]
    fragment = (tmp_path / "r-unet-table.tex").read_text()
    # Bold: the mean and its spread, math included.
    bold = r"\{\\boldmath\\bfseries \$[\d.]+\$[^&]*?\\mbox\{\\scriptsize \$\{\\pm\}[\d.]+\$\}\}"
    assert re.search(bold, fragment), fragment
    assert latex.exists()


# --------------------------------------------------------------------------- CLI
def test_cli_formats_all_default_output_template_and_option_errors(claimed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["report", "--out", str(claimed), "--format", "all", "--no-figures"])
    assert result.exit_code == 0, result.output
    for ext in ("html", "tex", "md", "csv"):
        assert (tmp_path / "reports" / "claimed" / f"report.{ext}").is_file(), ext
    custom = tmp_path / "mine.md.j2"
    custom.write_text("{{ report.title }}: {% for s in report.sections %}{{ s.verdicts[0] }}{% endfor %}\n")
    result = runner.invoke(
        main,
        [
            "report",
            "--out",
            str(claimed),
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
    assert (tmp_path / "x.md").read_text().startswith("colorbench study claimed: ")
    for args, message in (
        (["--format", "latex", "--embed-images"], "--embed-images applies to --format html only"),
        (["--format", "html", "--template", "missing.j2"], "template missing.j2 does not exist"),
        (["--format", "html", "--columns", "psnr,bogus"], "unknown column 'bogus'"),
        (["--format", "html", "--metric", "speed"], "--metric 'speed'"),
    ):
        result = runner.invoke(main, ["report", "--out", str(claimed), "--no-figures", *args])
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        assert message in result.output


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


def test_unknown_interval_is_an_error(odd):
    with pytest.raises(ColorbenchError, match="unknown interval"):
        build_report(odd, "odd", interval="iqr")


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


def test_every_column_is_known_and_ordered():
    assert [c.key for c in COLUMNS][:2] == ["parameters", "train_minutes"]
    assert {"colorfulness_pred", "dcf", "ciede2000", "loss_G"} <= {c.key for c in COLUMNS}


@needs_pdflatex
@pytest.mark.parametrize("tex_float", ["table", "table*"])
@pytest.mark.parametrize("columns", [None, "all"])
def test_every_latex_fragment_fits_a_two_column_article(claimed_report, tmp_path, tex_float, columns):
    """Each fragment, \\input into \\documentclass[twocolumn]{article}: no overfull box over 1 pt."""
    keys = [c.key for c in COLUMNS] if columns == "all" else None
    paths = write_report(claimed_report, "latex", tmp_path / "report.tex", tex_float=tex_float, columns=keys)
    fragments = sorted(p.stem for p in paths if p.suffix == ".tex" and p.name != "report.tex")
    assert any(f.endswith("-verdict") for f in fragments) and any(f.endswith("-effects") for f in fragments)
    for name in fragments:
        text = (tmp_path / f"{name}.tex").read_text()
        assert "unet" not in text.split("\\label")[0].lower() or "U-Net" in text  # labels, not raw keys
        assert "\\pm" not in text or "\\\\[-1pt] {\\scriptsize $\\pm" not in text  # ± on the mean's line
        paper = tmp_path / f"paper-{name}.tex"
        paper.write_text(
            "\\documentclass[10pt,twocolumn]{article}\\usepackage{booktabs}\\usepackage{graphicx}\n"
            f"\\begin{{document}}\nSome text of the paper.\\par\n\\input{{{name}}}\n\\end{{document}}\n"
        )
        result = _pdflatex(paper)
        assert result.returncode == 0, result.stdout[-3000:]
        log = paper.with_suffix(".log").read_text()
        overfull = [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
        assert all(x <= 1.0 for x in overfull), (name, tex_float, overfull)
        assert "Overfull \\vbox" not in log, name


# --------------------------------------------------------------------------- HTML in a browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

# Each gray mark against the first line of its cell's text (the mean), the page's and every table's
# overflow, and how many lines each header unit takes.
LAYOUT_JS = """
const marks = [...document.querySelectorAll('sup.vg')].map(sup => {
  const range = document.createRange();
  range.selectNodeContents(sup.parentNode.firstChild);
  const text = range.getClientRects()[0], mark = sup.getBoundingClientRect();
  return {mark: sup.textContent, top: mark.top, bottom: mark.bottom, textTop: text.top,
          textBottom: text.bottom, left: mark.left, textRight: text.right};
});
const scrolls = [...document.querySelectorAll('.scroll')].map(d => [d.scrollWidth, d.clientWidth]);
const units = [...document.querySelectorAll('thead .unit span')].map(
  u => [u.textContent, u.getClientRects().length]);
return {marks, scrolls, units, page: [document.documentElement.scrollWidth, window.innerWidth]};
"""


@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None, reason="chromium and chromium-driver are not installed"
)
def test_html_report_in_headless_chromium_has_no_scrollbar_and_inline_marks(claimed_report, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    page = write_report(claimed_report, "html", tmp_path / "report.html")[0]
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_window_size(1400, 1000)
        driver.get(page.as_uri())
        layout = driver.execute_script(LAYOUT_JS)
        driver.execute_script("document.querySelector('table').scrollIntoView()")
        driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert layout["page"][0] <= layout["page"][1], layout["page"]  # no horizontal scrollbar
    assert all(scroll <= client for scroll, client in layout["scrolls"]), layout["scrolls"]
    assert layout["marks"] and {m["mark"] for m in layout["marks"]} <= {"+", "−"}
    for mark in layout["marks"]:  # on the mean's line, right after it: never a line of its own
        assert mark["top"] < mark["textBottom"] and mark["bottom"] > mark["textTop"], mark
        assert mark["left"] >= mark["textRight"] - 0.5, mark
    assert all(lines == 1 for _, lines in layout["units"]), layout["units"]  # no unit word split


def test_per_image_views_reach_every_format_with_their_intervals(claimed_report, tmp_path):
    """P(better than Default / gray), median and IQM per setting: in HTML, Markdown and LaTeX."""
    import html

    (section,) = claimed_report.sections
    lead, *lines = section.per_image
    assert "P(better)" in lead and "IQM" in lead and "not calibrated for few seeds" in lead
    by_label = {line.split(": ")[0]: line for line in lines}
    assert "P(better than Default)" not in by_label["Default"]  # no setting is compared with itself
    others = [line for label, line in by_label.items() if label != "Default"]
    shape = r"P\(better than Default\) [01]\.\d\d \[[01]\.\d\d, [01]\.\d\d\]"
    assert others and all(re.search(shape, x) for x in others)
    assert all("P(better than gray)" in x and "median " in x and "IQM " in x for x in lines)
    for fmt, name in (("html", "r.html"), ("markdown", "r.md"), ("latex", "r.tex")):
        out = tmp_path / fmt
        write_report(claimed_report, fmt, out / name)
        text = "".join(p.read_text() for p in out.iterdir() if p.suffix in {".html", ".md", ".tex"})
        text = html.unescape(text) if fmt == "html" else text
        escape = {"markdown": md_escape, "latex": tex_escape}.get(fmt, str)
        for line in (lead, *lines):
            assert escape(line)[:50] in text, (fmt, line)
    assert any(f.kind == "profile" for f in section.figures)
