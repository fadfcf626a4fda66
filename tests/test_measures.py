"""One declaration per measured quantity, and metrics that plug in like generators.

Third-party metric packages are simulated by writing a ``*.dist-info`` with an ``entry_points.txt``
(what pip would install) into a temporary directory on ``sys.path``, as tests/test_registry.py
does for generators; the end-to-end test puts it on PYTHONPATH for a real ``colorbench run``.
"""

from __future__ import annotations

import ast
import csv
import importlib.metadata
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib
import torch
from click.testing import CliRunner

from colorbench import measures
from colorbench.cli import main
from colorbench.measures import (
    ENTRY_POINT_GROUP,
    HIGHER,
    LOWER,
    SET,
    ImageBatch,
    Measure,
    Need,
    SetValue,
    builtin,
    image_metrics,
)
from colorbench.training.evaluation import evaluate_sets

REPO = Path(__file__).resolve().parents[1]

# A per-image metric, a per-set metric, one that needs a missing file, and broken ones.
PLUGIN_SOURCE = """
import torch
from pathlib import Path
from colorbench.measures import HIGHER, LOWER, SET, Measure, Need, SetValue


def _chroma(batch):
    return torch.linalg.vector_norm(batch.ab_pred, dim=1).flatten(1).mean(dim=1)


CHROMA = Measure(
    "mean_chroma", "Chroma", "ab/110", HIGHER, "mean chroma of the prediction",
    short="C*", variant="L2 norm of ab / 110, mean over pixels", compute=_chroma,
)


def _gap(data):
    gap = (data.real - data.predicted).abs().mean(dim=(1, 2, 3))
    mean = float(gap.mean())
    return SetValue(mean, low=float(gap.min()), high=float(gap.max()), n=len(data.image_ids))


SET_GAP = Measure(
    "set_gap", "Set gap", "1", LOWER, "mean |real - predicted| over the whole val set",
    scope=SET, compute=_gap,
)

CLAIM = Measure("ciede2000", "Not CIEDE2000", "1", LOWER, "claims a built-in's name", compute=_chroma)

NEEDY = Measure(
    "needy", "Needy", "1", LOWER, "needs a weights file nobody has",
    compute=_chroma,
    needs=(Need("weights", "needy.pth", lambda: "weights file /nowhere/needy.pth is missing: put it there",
                Path("/nowhere/needy.pth")),),
)
"""
BROKEN_SOURCES = {
    "cbmetric_raises": "raise RuntimeError('metric boom')",
    "cbmetric_notmeasure": "METRIC = {'name': 'notmeasure'}",
}


def _write_dist(root: Path, dist: str, entries: dict[str, str], group: str = ENTRY_POINT_GROUP) -> None:
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")


def make_metric_package(root: Path, broken: bool = False) -> Path:
    """A third-party metric distribution ``cbtest-metrics`` (and broken ones) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cbmetric_good.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    entries = {"mean_chroma": "cbmetric_good:CHROMA"}
    _write_dist(root, "cbtest-metrics", entries)
    if broken:
        for module, source in BROKEN_SOURCES.items():
            (root / f"{module}.py").write_text(source)
        _write_dist(
            root,
            "cbtest-broken-metrics",
            {
                "raises": "cbmetric_raises:METRIC",
                "notmeasure": "cbmetric_notmeasure:METRIC",
                "misnamed": "cbmetric_good:SET_GAP",
                "ciede2000": "cbmetric_good:CLAIM",  # claims a built-in's name
            },
        )
    return root


@pytest.fixture(autouse=True)
def fresh_registry():
    measures.refresh()
    yield
    measures.refresh()
    for name in [m for m in sys.modules if m.startswith("cbmetric_")]:
        del sys.modules[name]


@pytest.fixture
def installed(tmp_path, monkeypatch):
    def _install(broken: bool = False, extra: dict[str, str] | None = None) -> Path:
        root = make_metric_package(tmp_path / "site", broken)
        if extra:
            _write_dist(root, "cbtest-more-metrics", extra)
        monkeypatch.syspath_prepend(str(root))
        measures.refresh()
        return root

    return _install


# --------------------------------------------------------------------------- one declaration
def _names() -> set[str]:
    return {m.name for m in (*builtin.LOSSES, *builtin.METRICS)}


def test_no_module_but_the_declarations_spells_a_measure_name():
    """Names of losses and metrics appear as string literals in colorbench/measures/builtin.py only."""
    names = _names()
    allowed = {REPO / "colorbench" / "measures" / "builtin.py"}
    offenders = []
    for path in sorted((REPO / "colorbench").rglob("*.py")):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    # Templates lay out columns from the declarations; they must not name one either.
    for path in sorted((REPO / "colorbench" / "report" / "templates").glob("*.j2")):
        for name in names:
            if re.search(rf"['\"]{re.escape(name)}['\"]", path.read_text()):
                offenders.append(f"{path.relative_to(REPO)}: {name!r}")
    assert not offenders, "measure names outside colorbench/measures/builtin.py:\n" + "\n".join(offenders)


def test_the_checker_would_catch_a_name(tmp_path):
    tree = ast.parse("columns = ('ciede2000', 'x')")
    found = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in _names()]
    assert found == ["ciede2000"]


def test_builtin_metrics_are_registered_in_pyproject_like_any_plugin():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    entries = declared[ENTRY_POINT_GROUP]
    assert list(entries) == [m.name for m in builtin.METRICS]
    for name, target in entries.items():
        module, attribute = target.split(":")
        assert module == "colorbench.measures.builtin"
        assert getattr(builtin, attribute).name == name


def test_builtins_come_through_the_entry_points_when_installed(tmp_path, monkeypatch):
    """With colorbench's metadata carrying the group (after pip install -e .), the built-ins are
    entry points of the colorbench distribution; here that metadata is written for the test."""
    real = importlib.metadata.distribution("colorbench")
    info = tmp_path / f"colorbench-{real.version}.dist-info"
    info.mkdir()
    # An editable install may keep its METADATA elsewhere: the name and version are what matter here.
    metadata_text = (
        real.read_text("METADATA") or f"Metadata-Version: 2.1\nName: colorbench\nVersion: {real.version}\n"
    )
    (info / "METADATA").write_text(metadata_text)
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    text = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in declared.items()
    )
    (info / "entry_points.txt").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    measures.refresh()
    assert not measures.metadata_is_stale()
    assert measures.REGISTRY.builtin_names() == sorted(m.name for m in builtin.METRICS)
    # A metric plugin installed here (e.g. plugins/colorbench-example-metric) comes after them.
    ours = [e for e in measures.metric_entries() if e.dist_name == "colorbench"]
    assert [m.name for m in measures.metric_measures()][: len(ours)] == [m.name for m in builtin.METRICS]
    assert len(ours) == len(builtin.METRICS) and all(e.ok for e in ours)


def test_declarations_hold_what_every_view_reads():
    by_name = {m.name: m for m in measures.all_measures()}
    for m in by_name.values():
        assert m.direction in (LOWER, HIGHER) and m.label and m.unit and m.description
    dcf = [m for m in builtin.METRICS if m.gray_degenerate]
    assert len(dcf) == 1 and dcf[0].label == "|ΔCF|" and dcf[0].direction == LOWER
    unranked = {m.label for m in builtin.METRICS if not m.ranked}
    assert unranked == {"CF", "CF truth"}
    assert builtin.CIEDE2000.caption(12.345) == "ΔE00 12.3"
    assert [m.kind for m in builtin.LOSSES] == ["loss"] * 6
    assert measures.default_verdict("metric") == builtin.CIEDE2000.name
    assert measures.default_verdict("loss") == builtin.LOSS_G.name


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"direction": "up"}, "direction"),
        ({"name": "gray_x"}, "reserved"),
        ({"name": "x y"}, "letters"),
        ({"compute": None}, "compute"),
        ({"scope": "pixel"}, "scope"),
    ],
)
def test_a_bad_declaration_is_refused_in_words(change, problem):
    fields = dict(name="x", label="X", unit="1", direction=LOWER, description="d", compute=lambda b: b)
    with pytest.raises(ValueError, match=problem):
        Measure(**{**fields, **change})


# --------------------------------------------------------------------------- plugins
def test_a_third_party_metric_is_computed_with_the_builtins(installed):
    installed()
    names = [m.name for m in measures.metric_measures()]
    assert names[: len(builtin.METRICS)] == [m.name for m in builtin.METRICS]  # built-ins first
    assert "mean_chroma" in names
    torch.manual_seed(0)
    l_norm, ab_true = torch.rand(3, 1, 16, 16) * 2 - 1, torch.rand(3, 2, 16, 16) * 0.4 - 0.2
    values = image_metrics(l_norm, ab_true.flip(0), ab_true)
    expected = torch.linalg.vector_norm(ab_true.flip(0), dim=1).flatten(1).mean(dim=1)
    assert torch.allclose(values["mean_chroma"], expected)
    # Per-image built-ins whose needs are met here (FID/KID are per set; LPIPS may lack its weights).
    computed = [m.name for m in builtin.METRICS if m.per_image and not m.unmet_needs()]
    assert list(values)[: len(computed)] == computed


def test_builtin_values_are_unchanged_by_the_declarations():
    """The per-image values equal the formulas applied directly (as image_metrics did before)."""
    from colorbench import metrics as f
    from colorbench.color import denormalize_ab, denormalize_lab, normalized_to_rgb

    torch.manual_seed(1)
    l_norm, ab = torch.rand(2, 1, 24, 24) * 2 - 1, torch.rand(2, 2, 24, 24) * 0.6 - 0.3
    pred = ab.flip(0) * 0.5
    got = image_metrics(l_norm, pred, ab)
    rgb_p, rgb_t = normalized_to_rgb(l_norm, pred), normalized_to_rgb(l_norm, ab)
    cf_p, cf_t = f.colorfulness(rgb_p), f.colorfulness(rgb_t)
    want = [
        f.l1_ab(pred, ab),
        f.psnr(rgb_p, rgb_t),
        f.ssim(rgb_p, rgb_t),
        f.ciede2000(denormalize_lab(l_norm, pred), denormalize_lab(l_norm, ab)).flatten(1).mean(dim=1),
        cf_p,
        cf_t,
        (cf_p - cf_t).abs(),
        f.auc(denormalize_ab(pred), denormalize_ab(ab)),
    ]
    weight_free = [m.name for m in builtin.METRICS if m.per_image and not m.needs]  # not LPIPS, FID, KID
    assert list(got)[: len(weight_free)] == weight_free
    for (name, value), expected in zip(list(got.items())[: len(weight_free)], want, strict=True):
        assert torch.equal(value, expected), name


def test_broken_metric_plugins_are_reported_and_never_fatal(installed):
    installed(broken=True)
    skipped = dict(measures.skipped_metrics())
    assert "import of cbmetric_raises:METRIC failed: RuntimeError: metric boom" in skipped["raises"]
    assert "not a colorbench.measures.Measure" in skipped["notmeasure"]
    assert "resolves to a metric named 'set_gap'" in skipped["misnamed"]
    claim = "conflict: name 'ciede2000' belongs to colorbench's built-in metric"
    assert skipped["ciede2000"].startswith(claim)
    names = [m.name for m in measures.metric_measures()]
    assert "mean_chroma" in names and "raises" not in names and names.count("ciede2000") == 1
    assert measures.get_measure("ciede2000") is builtin.CIEDE2000  # the built-in keeps its name
    result = CliRunner().invoke(main, ["metrics"])
    assert result.exit_code == 0, result.output
    assert "raises" in result.output and "metric boom" in result.output
    assert "mean_chroma" in result.output and "Chroma" in result.output


def test_metrics_command_names_one_metric_and_refuses_unknown_ones(installed):
    installed(extra={"needy": "cbmetric_good:NEEDY"})
    result = CliRunner().invoke(main, ["metrics", "needy"])
    assert result.exit_code == 0, result.output
    assert "needs weights" in result.output and "/nowhere/needy.pth is missing" in result.output
    result = CliRunner().invoke(main, ["metrics", "nosuch"])
    assert result.exit_code == 2 and "unknown measure 'nosuch'" in result.output
    assert "Traceback" not in result.output


def test_per_set_metrics_get_the_whole_set_and_failures_are_not_computed(installed):
    installed(extra={"set_gap": "cbmetric_good:SET_GAP"})
    builtin_sets = [m.name for m in builtin.METRICS if not m.per_image]  # C2ST's readings, FID, KID
    sets = tuple(m for m in measures.set_measures() if m.name not in builtin_sets)
    assert [m.name for m in measures.set_measures()] == [*builtin_sets, "set_gap"]
    assert [m.name for m in sets] == ["set_gap"] and sets[0].scope == SET
    assert "set_gap" not in {m.name for m in measures.image_measures()}
    real = torch.zeros(4, 3, 8, 8)
    predicted = torch.full((4, 3, 8, 8), 0.25)
    values, missing = evaluate_sets(sets, ["a", "b", "c", "d"], real, predicted, seed=0)
    assert values == {"set_gap": SetValue(0.25, low=0.25, high=0.25, n=4)} and missing == {}

    def boom(data):
        raise RuntimeError("no critic")

    failing = Measure("critic", "Critic", "1", LOWER, "d", scope=SET, compute=boom)
    wrong = Measure("wrong", "Wrong", "1", LOWER, "d", scope=SET, compute=lambda data: 0.5)
    needy = Measure(
        "judged",
        "Judged",
        "1",
        HIGHER,
        "d",
        scope=SET,
        compute=lambda d: SetValue(1.0),
        needs=(Need("judgments", "human judgments", lambda: "no judgments yet: run colorbench judge"),),
    )
    values, missing = evaluate_sets([failing, wrong, needy], ["a"], real[:1], predicted[:1], seed=0)
    assert values == {}
    assert missing == {
        "critic": "its computation failed: RuntimeError: no critic",
        "wrong": "it returned a float, not a SetValue",
        "judged": "no judgments yet: run colorbench judge",
    }


def test_image_batch_computes_shared_images_once():
    l_norm, ab = torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4)
    batch = ImageBatch(l_norm, ab, ab)
    assert batch.rgb_pred is batch.rgb_pred
    calls = []
    assert batch.shared("k", lambda: calls.append(1) or torch.ones(1)) is batch.shared("k", lambda: None)
    assert calls == [1]


# --------------------------------------------------------------------------- end to end
def _colorbench(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "colorbench", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )


@pytest.mark.slow
def test_a_third_party_metric_reaches_every_report_format(tmp_path):
    """A metric package on the path, a real smoke study, and the column in CSV, HTML and LaTeX;
    a broken metric plugin beside it is reported, not fatal."""
    site = make_metric_package(tmp_path / "site", broken=True)
    _write_dist(
        site, "cbtest-set-metrics", {"set_gap": "cbmetric_good:SET_GAP", "needy": "cbmetric_good:NEEDY"}
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "runs"
    result = _colorbench(
        "run", "--plugin", "unet", "--vary", "init", "--preset", "smoke",
        "--out", out, "--study", "plug", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    log = "".join(p.read_text() for p in out.glob("*/train.log"))
    assert "metric 'raises' is left out" in log  # said, and the run went on
    assert "metric 'needy' not computed: weights file /nowhere/needy.pth is missing" in log

    target = tmp_path / "report"
    result = _colorbench(
        "report", "--out", out, "--study", "plug", "--format", "all", "--output", target / "r", env=env
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    html = (target / "r.html").read_text()
    assert re.search(r"<th[^>]*>\s*Chroma\s*<span class=\"dir\">↑</span>", html), "no Chroma ↑ header"
    assert re.search(r"Set gap\s*<span class=\"dir\">↓</span>", html)
    assert "needy not computed: weights file /nowhere/needy.pth is missing" in html
    tex = (target / "r.tex").read_text()
    assert re.search(r"Chroma \$\\uparrow\$", tex), "no Chroma column in the LaTeX table"
    rows = list(csv.DictReader((target / "r.csv").open()))
    header = rows[0].keys()
    assert {"mean_chroma_mean", "mean_chroma_std", "mean_chroma_vs_gray", "set_gap_mean"} <= set(header)
    default = next(r for r in rows if r["setting"] == "default")
    gray = next(r for r in rows if r["setting"] == "gray")
    assert float(default["mean_chroma_mean"]) > 0 and float(gray["mean_chroma_mean"]) == 0
    assert 0 < float(default["set_gap_mean"]) < 1
    described = {r["label"]: r["note"] for r in rows if r["setting"] == "measure"}
    assert described["Chroma"] == "mean_chroma: Chroma [ab/110], higher is better"
    assert described["Set gap"] == "set_gap: Set gap [1], lower is better"
