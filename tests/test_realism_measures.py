"""FID, KID and LPIPS through torchmetrics, their weights files, and ``colorbench weights``.

Nothing here downloads: FID/KID run on a small feature network built in the test (the plumbing
is the production one, the network is not Inception), LPIPS on torchmetrics' packaged linear
layers over an untrained AlexNet, and the weights cache is an empty tmp dir (TORCH_HOME) with
``COLORBENCH_NO_DOWNLOAD`` set. Until colorbench is reinstalled with this pyproject.toml, the
built-ins' entry points are written into a tmp ``*.dist-info`` (as tests/test_measures.py does).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch
from scipy import linalg
from torch import nn

from colorbench.measures import MeasureSet, builtin, realism

REPO = Path(__file__).resolve().parents[1]


def _registered_metadata(root: Path) -> Path:
    """A colorbench dist-info carrying this checkout's entry points (what pip install -e . writes)."""
    real = importlib.metadata.distribution("colorbench")
    info = root / f"colorbench-{real.version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: colorbench\nVersion: {real.version}\n")
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    text = "".join(
        f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for g, eps in declared.items()
    )
    (info / "entry_points.txt").write_text(text)
    return root


@pytest.fixture
def offline_env(tmp_path):
    """Environment for a subprocess: empty weights cache, no download, the realism metrics registered."""
    site = _registered_metadata(tmp_path / "site")
    path = os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")])
    cache = tmp_path / "torch-home"
    return {**os.environ, "PYTHONPATH": path, "TORCH_HOME": str(cache), realism.NO_DOWNLOAD_ENV: "1"}, cache


class SmallFeatures(nn.Module):
    """A stand-in for Inception: 8 features of an image, enough to make FID/KID non-trivial."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


def _images(n: int, seed: int, tint: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 16, 16, generator=g)
    x[:, 0] = (x[:, 0] + tint).clamp(0, 1)
    return x


def _set(real, predicted, seed=0) -> MeasureSet:
    return MeasureSet(tuple(str(i) for i in range(len(real))), real, predicted, seed)


def _closed_form_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def _closed_form_kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD² with the cubic kernel (x.y / d + 1)^3 over all pairs (one subset = everything)."""
    d, m = a.shape[1], a.shape[0]
    kxx, kyy, kxy = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
    return float(off(kxx) + off(kyy) - 2 * kxy.mean())


def test_fid_and_kid_plumbing_equal_the_closed_forms_on_the_same_features():
    net = SmallFeatures().eval()
    real, predicted = _images(40, 1), _images(40, 2, tint=0.3)
    data = _set(real, predicted)
    with torch.no_grad():
        a, b = net(real).double().numpy(), net(predicted).double().numpy()
    fid = realism.frechet_distance(data, net)
    assert fid.n == 40
    assert fid.value > 1e-4
    assert fid.value == pytest.approx(_closed_form_fid(a, b), rel=1e-5)
    kid = realism.kernel_distance(data, net)  # 40 < 1000: every subset is the whole set
    assert kid.n == 40 and kid.std == pytest.approx(0.0, abs=1e-12)
    assert kid.value == pytest.approx(_closed_form_kid(a, b), rel=1e-5)


def test_identical_sets_give_zero_fid_and_kid_and_kid_subsets_follow_the_seed():
    net = SmallFeatures().eval()
    real = _images(30, 3)
    same = realism.frechet_distance(_set(real, real.clone()), net)
    different = realism.frechet_distance(_set(real, _images(30, 4, tint=0.3)), net)
    assert abs(same.value) < 1e-6 * different.value
    kid_same = realism.kernel_distance(_set(real, real.clone()), net)
    kid_different = realism.kernel_distance(_set(real, _images(30, 4, tint=0.3)), net)
    # Unbiased MMD² of a set with itself is -2 x (mean k(x,x) - mean k(x,y)) / n: zero up to O(1/n).
    assert abs(kid_same.value) < 0.05 * kid_different.value
    # Subsets smaller than the set: drawn from the run's seed, identical on rerun.
    big, other = _images(60, 5), _images(60, 6, tint=0.2)
    old = realism.KID_SUBSET_SIZE
    try:
        realism.KID_SUBSET_SIZE = 20
        first = realism.kernel_distance(_set(big, other, seed=7), net)
        torch.manual_seed(123)  # global state must not matter
        again = realism.kernel_distance(_set(big, other, seed=7), net)
    finally:
        realism.KID_SUBSET_SIZE = old
    assert first == again and first.std > 0


def test_lpips_is_zero_for_identical_images_and_positive_otherwise():
    """torchmetrics' LPIPS network with its packaged linear layers and an untrained AlexNet backbone
    (``pnet_rand``: torchvision's architecture, no download): the plumbing, not the published scale."""
    from torchmetrics.functional.image.lpips import _LPIPS

    torch.manual_seed(0)
    net = _LPIPS(pretrained=True, net="alex", pnet_rand=True).eval()
    real, predicted = _images(4, 1), _images(4, 2)
    real, predicted = (torch.nn.functional.interpolate(x, size=64) for x in (real, predicted))
    same = realism.lpips_distance(real, real.clone(), net)
    assert same.shape == (4,) and torch.all(same.abs() < 1e-6)
    assert torch.all(realism.lpips_distance(predicted, real, net) > 1e-4)


def test_missing_weights_say_which_file_and_where_torch_looks(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv(realism.NO_DOWNLOAD_ENV, "1")
    realism._download.cache_clear()
    expected = tmp_path / "hub" / "checkpoints" / realism.INCEPTION.filename
    assert Path(torch.hub.get_dir()) / "checkpoints" / realism.INCEPTION.filename == expected
    problem = realism.weights_need(realism.INCEPTION).problem()
    assert realism.INCEPTION.filename in problem and f"put it at {expected}" in problem
    assert "not downloaded" in problem
    assert realism.LPIPS_LINEAR.problem() is None  # ships inside torchmetrics
    expected.parent.mkdir(parents=True)
    expected.write_bytes(b"x")
    assert realism.INCEPTION.problem() is None
    # The declarations carry these needs; their values never become a zero.
    assert [n.kind for n in builtin.FID.needs] == ["package", "weights"]
    assert builtin.FID.report_note.format(n="47").startswith("FID is computed over N = 47 val images")


def test_reports_state_n_and_the_reference_set_beside_fid(tmp_path, monkeypatch):
    import pandas as pd

    from colorbench import measures
    from colorbench.report.notes import _declared_notes

    monkeypatch.syspath_prepend(str(_registered_metadata(tmp_path / "site")))
    measures.refresh()
    try:
        runs = pd.DataFrame({"fid": [12.5, float("nan")], "n_val": [47, 47]})
        (note,) = _declared_notes(runs)
        assert note.startswith("FID is computed over N = 47 val images per run; below 2,000 images")
        assert "not comparable to published tables" in note and "ground-truth colour images" in note
        assert "299 px by the Inception preprocessing" in note
        assert _declared_notes(pd.DataFrame({"fid": [float("nan")], "n_val": [47]})) == []
    finally:
        monkeypatch.undo()
        measures.refresh()


def _colorbench(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "colorbench", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )


def test_weights_command_lists_files_present_or_missing_with_sha256(offline_env):
    env, cache = offline_env
    result = _colorbench("weights", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    inception = cache / "hub" / "checkpoints" / realism.INCEPTION.filename
    assert f"{realism.INCEPTION.filename}  [fid, kid]  missing\n  looked for at {inception}" in out
    assert re.search(rf"{realism.ALEXNET.filename}  \[lpips\]  missing", out)
    linear = realism.LPIPS_LINEAR.location()
    assert f"alex.pth  [lpips]  present  sha256 {hashlib.sha256(linear.read_bytes()).hexdigest()}" in out
    inception.parent.mkdir(parents=True)
    inception.write_bytes(b"not really inception")
    out = _colorbench("weights", "kid", env=env).stdout
    assert f"[kid]  present  sha256 {hashlib.sha256(b'not really inception').hexdigest()}" in out
    assert "lpips" not in out
    bad = _colorbench("weights", "nope", env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown measure 'nope'" in bad.stderr
    assert "not computed here" in _colorbench("metrics", env=env).stdout


@pytest.mark.slow
def test_a_smoke_study_without_weights_reports_not_computed_and_the_missing_file(offline_env, tmp_path):
    env, cache = offline_env
    out = tmp_path / "runs"
    result = _colorbench(
        "run", "--plugin", "unet", "--preset", "smoke", "--out", out, "--study", "s", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = _colorbench(
        "report", "--out", out, "--study", "s", "--format", "all", "--output", tmp_path / "r", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    inception = cache / "hub" / "checkpoints" / realism.INCEPTION.filename
    for suffix in ("html", "md", "tex"):
        text = (tmp_path / f"r.{suffix}").read_text()
        text = text.replace("\\_", "_")
        assert "fid not computed: weights file weights-inception-2015-12-05-6726825d.pth" in text, suffix
        assert str(inception) in text, suffix
        assert "lpips not computed" in text and realism.ALEXNET.filename in text, suffix
    table_row = next(line for line in (tmp_path / "r.md").read_text().splitlines() if "| Default |" in line)
    assert table_row.endswith("| not computed | not computed | not computed |"), table_row
    # The CSV never carries a number for a metric that was not computed.
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert rows and all(not r.get(f"{m}_mean") for r in rows for m in ("fid", "kid", "lpips"))
