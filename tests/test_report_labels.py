"""Reports name generators and measures by their declarations, never by raw keys.

The verdict text (the gray headline and the claim's verdicts) of a small hand-built store, in HTML,
Markdown and LaTeX, must not contain the generator's key or any loss or metric key
(``unet``, ``ciede2000``, ``loss_G``): the generator's name comes from its ``display_name`` (recorded in
the store, or the installed plugin's for a store made before names were recorded) and a measure's
from its declaration.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from store_builder import write_store

from colorbench.measures import loss_measures, metric_measures
from colorbench.models.unet import PLUGIN as UNET
from colorbench.report import build_report, write_report
from colorbench.report.labels import generator_label
from colorbench.report.render import tex_escape

CLAIMED = {"init=kaiming": 3.0, "batch=32": 2.0, "layers=n_down_7": 1.0, "lr=0.001": 0.2}


def _keys(generator: str) -> list[str]:
    return [generator, *(m.name for m in (*loss_measures(), *metric_measures()))]


def _raw_keys(text: str, generator: str) -> list[str]:
    # Case-sensitive and whole words: "ssim" is a key, "SSIM" its label.
    return [k for k in _keys(generator) if re.search(rf"(?<![\w\\]){re.escape(k)}(?!\w)", text)]


def _verdict_texts(report, tmp_path: Path) -> dict[str, str]:
    """The verdict block of each format: HTML's claim list, Markdown's bullets, LaTeX's fragment."""
    out = {}
    page = write_report(report, "html", tmp_path / "r.html")[0].read_text()
    block = re.search(r'<div class="claim"><ul>(.*?)</ul></div>', page, re.S)
    out["html"] = html.unescape(re.sub(r"<[^>]+>", " ", block.group(1)))
    lines = write_report(report, "markdown", tmp_path / "r.md")[0].read_text().splitlines()
    verdicts = [line for line in lines if line.startswith("- ") and ("beat gray" in line or "claim" in line)]
    out["markdown"] = "\n".join(verdicts).replace("\\_", "_")
    written = write_report(report, "latex", tmp_path / "r.tex")
    (fragment,) = [p for p in written if p.name.endswith("-verdict.tex")]
    out["latex"] = fragment.read_text().replace(r"\_", "_")
    return out


@pytest.mark.parametrize(
    ("generator", "display_name", "expected"),
    [
        ("unet", None, UNET.shown_name),  # not recorded (older store): the installed plugin's
        ("toycolor", "Toy Colorizer (2031)", "Toy Colorizer (2031)"),  # recorded: needs no plugin
    ],
)
def test_verdict_text_has_labels_not_raw_keys_in_every_format(tmp_path, generator, display_name, expected):
    root = write_store(
        tmp_path / "store", name="claimed", effects=CLAIMED, generator=generator, display_name=display_name
    )
    report = build_report(root, "claimed", with_figures=False)
    (section,) = report.sections
    assert section.name == expected and section.headline and len(section.verdicts) == 2
    texts = _verdict_texts(report, tmp_path)
    for fmt, text in texts.items():
        assert "beat gray on CIEDE2000" in text and "Loss G" in text, (fmt, text)
        assert expected.split()[0] in text, (fmt, text)
        assert _raw_keys(text, generator) == [], (fmt, text)


def test_the_raw_key_check_catches_a_key():
    assert _raw_keys("unsupported on ciede2000 for unet (P = 0.3)", "unet") == ["unet", "ciede2000"]
    assert _raw_keys("on CIEDE2000 for U-Net, Loss G, SSIM", "unet") == []


def test_generator_label_reads_the_store_before_any_plugin():
    assert generator_label({"generators": {"unet": {"display_name": "Mine"}}}, None, "unet") == "Mine"
    assert generator_label({}, None, "unet") == "U-Net"  # the installed built-in's declaration
    assert generator_label({}, None, "not-installed") == "not-installed"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_a_double_quote_in_a_sentence_compiles_in_latex(tmp_path):
    # Verdicts quote "supported" (the power clause); \textquotedbl stopped pdflatex in OT1.
    body = tex_escape('would read "supported" in at most 5% of studies')
    (tmp_path / "q.tex").write_text(r"\documentclass{article}\begin{document}" + body + r"\end{document}")
    _pdflatex(tmp_path / "q.tex")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_a_note_with_a_long_path_and_url_stays_within_the_margin(full_store_for_notes, tmp_path):
    """The "not computed" notes name a weights file's path and URL: no overfull line in report.tex."""

    report = build_report(full_store_for_notes, "full", with_figures=False)
    report.notes.append(
        "lpips not computed: weights file alexnet-owt-7be5be79.pth (torchvision AlexNet) is missing: put it "
        "at /root/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth (from "
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth; TORCH_HOME moves the cache)"
    )
    write_report(report, "latex", tmp_path / "r.tex")
    _pdflatex(tmp_path / "r.tex")
    log = (tmp_path / "r.log").read_text(errors="replace")
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \((\d+\.?\d*)pt too wide\)", log)]
    assert not [w for w in widths if w > 1.0], widths


@pytest.fixture
def full_store_for_notes(tmp_path):
    from test_results import study_store

    return study_store(tmp_path / "store")


def _pdflatex(tex: Path) -> None:
    result = subprocess.run(
        ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=tex.parent,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:]
