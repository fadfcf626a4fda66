"""The plugin as a researcher would ship it: installed, found by colorbench, trained by its harness.

Run after installing the plugin (the ``plugins`` tox environment does it):
``pip install -e plugins/colorbench-timm-unet && pytest plugins/colorbench-timm-unet/tests``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from colorbench_timm_unet import PLUGIN, PRETRAINED_ENV, VARIANTS, make_plugin, pretrained_requested

from colorbench.cli import main
from colorbench.errors import ColorbenchError
from colorbench.models import init_weights, list_plugins, refresh
from colorbench.testing import assert_conforms, generator_cases


@pytest.fixture(autouse=True)
def fresh_registry():
    refresh()
    yield
    refresh()


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "hf"


def test_installed_plugin_is_listed_by_colorbench():
    infos = {info.name: info for info in list_plugins()}
    assert "timm_unet" in infos, "the plugin is not installed: pip install -e plugins/colorbench-timm-unet"
    info = infos["timm_unet"]
    assert info.status == "ok", info.reason
    assert (info.dist_name, info.value) == ("colorbench-timm-unet", "colorbench_timm_unet:PLUGIN")
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    assert "timm_unet  ok  colorbench-timm-unet 0.1.0" in result.stdout
    assert "variants: resnet18 (default), resnet34, efficientnet_b0" in result.stdout


def test_listing_does_not_import_timm():
    code = "import sys; import colorbench.models as m; m.list_plugins(); print('timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_builds_and_forwards(variant):
    torch.manual_seed(0)
    model = init_weights(PLUGIN.create(variant, 64), "normal").train()
    for size in (64, 96):
        ab = model(torch.rand(2, 1, size, size) * 2 - 1)
        assert ab.shape == (2, 2, size, size)
        assert ab.abs().max() <= 1.0  # Tanh: normalised ab units


@pytest.mark.parametrize("name, variant, size", generator_cases((32, 64), names=["timm_unet"]))
def test_conforms_to_colorbenchs_contract(name, variant, size):
    # colorbench's conformance test: shapes, units, finite values, bf16 autocast, check() vs build.
    assert_conforms(name, variant, size)


def test_sizes_the_encoder_cannot_take_are_infeasible():
    assert PLUGIN.feasibility("resnet18", 100).startswith(
        "timm_unet resnet18 needs an image size divisible by 32 (got 100 px)"
    )


def test_random_weights_by_default(monkeypatch):
    monkeypatch.delenv(PRETRAINED_ENV, raising=False)
    assert not pretrained_requested()
    assert PLUGIN.manages_own_init("resnet18") is False  # the study's init factor applies
    monkeypatch.setenv(PRETRAINED_ENV, "1")
    assert pretrained_requested()


def test_pretrained_weights_missing_are_reported_never_downloaded(empty_caches):
    plugin = make_plugin(pretrained=True)
    assert plugin.manages_own_init("resnet18") is True
    assert PLUGIN.manages_own_init("resnet18", {"pretrained": True}) is True
    reason = plugin.feasibility("resnet18", 64)
    assert reason.startswith("pretrained resnet18 weights were requested") and "never downloads" in reason
    with pytest.raises(ColorbenchError, match="pretrained resnet18 weights were requested"):
        plugin.create("resnet18", 64)
    with pytest.raises(ColorbenchError, match="not in the local caches"):
        plugin.build_module("resnet18", 64)


def _cache_resnet18_weights(hf_cache: Path, seed: int = 0) -> tuple[Path, dict[str, torch.Tensor]]:
    """A stand-in for timm's cached ImageNet checkpoint, laid out as the Hugging Face cache does."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    state = {k: v.contiguous() for k, v in timm.create_model("resnet18").state_dict().items()}
    repo = hf_cache / "models--timm--resnet18.a1_in1k"
    (repo / "snapshots" / "abc123").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text("abc123")
    path = repo / "snapshots" / "abc123" / "model.safetensors"
    save_file(state, str(path))
    return path, state


def test_pretrained_weights_found_in_the_local_cache_are_loaded(empty_caches):
    _, state = _cache_resnet18_weights(empty_caches)
    plugin = make_plugin(pretrained=True)
    assert plugin.feasibility("resnet18", 64) is None
    encoder = plugin.create("resnet18", 64).encoder
    # timm folds the RGB stem into the single L channel by summing it.
    assert torch.allclose(encoder.conv1.weight[:, 0], state["conv1.weight"].sum(1), atol=1e-6)
    assert torch.equal(encoder.layer4[0].conv1.weight, state["layer4.0.conv1.weight"])


def test_a_pretrained_runs_weights_file_is_part_of_its_identity(empty_caches):
    """The weights file is hashed by content (issue 22): other weights never reuse these results."""
    import os
    import time

    from colorbench.models.fingerprint import file_digest
    from colorbench.training import preset_request, resolve_request

    def spec(pretrained: bool):
        return resolve_request(
            preset_request("smoke", "timm_unet", generator_options={"pretrained": pretrained})
        ).spec

    weights, _ = _cache_resnet18_weights(empty_caches, seed=0)
    first = spec(True)
    assert first.plugin["files"] == {str(weights): file_digest(weights)}
    random_weights = spec(False)
    assert random_weights.plugin["files"] == {}, "a random-weights run reads no weights file"

    _cache_resnet18_weights(empty_caches, seed=1)  # other weights in the same place, same size
    os.utime(weights, ns=(1, time.time_ns() + 10**9))
    second = spec(True)
    assert second.plugin["files"][str(weights)] != first.plugin["files"][str(weights)]
    assert second.run_id != first.run_id and second.lineage == first.lineage  # the old run is stale
    assert spec(False).run_id == random_weights.run_id


def _photos(folder: Path, n: int = 12) -> Path:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        img = np.empty((48, 48, 3), np.uint8)
        img[:] = rng.integers(0, 230, 3)
        img[::2] += 20  # some texture, so the photos are not flat colour
        Image.fromarray(img).save(folder / f"photo{i}.png")
    return folder


def test_smoke_training_runs_through_the_harness(tmp_path):
    from colorbench.training import preset_request, resolve_request, train_run

    request = preset_request(
        "smoke", "timm_unet", data=f"folder:{_photos(tmp_path / 'photos')}", data_limit=None, device="cpu"
    )
    resolved = resolve_request(request)
    summary = train_run(
        resolved.spec,
        resolved.options,
        tmp_path / "store" / "run",
        cache_dir=tmp_path / "cache",
        verbose=False,
    )
    assert summary.status.value == "completed", summary
    assert summary.generator == "timm_unet" and summary.variant == "resnet18"
    assert all(np.isfinite(v) for v in summary.final_train.values())
