"""Run identity and the one results store: what is hashed, stale plugins, worker hardware, study records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from colorbench.cli import main
from colorbench.errors import ColorbenchError
from colorbench.training import RunOptions, RunRequest, RunSpec, preset_request, resolve_request


def _study(photo_dir: Path, out: Path, cache: Path, *extra: str, plugin: str = "unet") -> list[str]:
    return [
        "run",
        "--plugin",
        plugin,
        "--vary",
        "init",
        "--preset",
        "smoke",
        "--data",
        f"folder:{photo_dir}",
        "--set",
        "data_limit=none",
        "--set",
        "data_seed=1",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        *extra,
    ]


def _epoch_lines(out: Path) -> dict[str, int]:
    return {p.parent.name: p.read_text().count("epoch 1/") for p in out.glob("*/train.log")}


# --------------------------------------------------------------------------- the spec
def test_options_are_not_hashed_and_results_settings_are():
    base = resolve_request(preset_request("smoke", "unet"))
    for changes in (
        {"eval_every": 2},
        {"num_samples": 5},
        {"tensorboard": True},
        {"device": "cpu"},
    ):
        other = resolve_request(preset_request("smoke", "unet", **changes))
        assert other.spec.run_id == base.spec.run_id, changes
        assert other.options != base.options
    for changes in ({"lr": 1e-4}, {"beta1": 0.9}, {"seed": 3}, {"precision": "fp32"}, {"data_limit": 30}):
        other = resolve_request(preset_request("smoke", "unet", **changes))
        assert other.spec.run_id != base.spec.run_id, changes


def test_the_spec_holds_variant_config_plugin_identity_and_the_data_spec():
    resolved = resolve_request(preset_request("quick", "unet"))
    spec = resolved.spec
    assert spec.variant == "n_down_6" and spec.variant_config["n_down"] == 6  # the plugin's default at 64 px
    assert spec.plugin["distribution"] == "colorbench" and len(spec.plugin["fingerprint"]) == 64
    assert spec.betas == (0.5, 0.999) and spec.data.size == 64 and spec.data.source == "sample"
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.run_id == spec.run_id
    assert spec.lineage != spec.spec_hash
    assert RunOptions.from_dict(resolved.options.to_dict()) == resolved.options


def test_a_pretrained_weights_option_gives_a_different_run_id():
    pytest.importorskip("colorbench_timm_unet", reason="the timm plugin is not installed")
    plain = resolve_request(preset_request("quick", "timm_unet"), require_feasible=False)
    pretrained = resolve_request(
        preset_request("quick", "timm_unet").with_overrides({"option.pretrained": "true"}),
        require_feasible=False,
    )
    assert pretrained.spec.generator_options == {"pretrained": True}
    assert pretrained.spec.run_id != plain.spec.run_id
    assert pretrained.infeasible and "never downloads" in pretrained.infeasible  # no weights cached here


def test_a_variant_files_content_is_part_of_the_identity(tmp_path, monkeypatch):
    from colorbench.models import GeneratorPlugin, Variant, identity, registry

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"one")
    plugin = GeneratorPlugin(
        name="filetest",
        description="test plugin reading a file",
        variants={"v": Variant(config={}, files=(str(weights),))},
        default_variant="v",
        build=lambda v, s: None,
        check=lambda v, s: None,
    )
    monkeypatch.setattr(registry, "get_generator", lambda name: plugin)
    monkeypatch.setattr(identity, "get_generator", lambda name: plugin)
    first = identity.variant_files("filetest", "v")
    weights.write_bytes(b"two")
    os.utime(weights, ns=(1, time.time_ns() + 10**9))
    second = identity.variant_files("filetest", "v")
    assert first[str(weights)] != second[str(weights)] and second[str(weights)].startswith("sha256=")
    weights.unlink()
    assert identity.variant_files("filetest", "v") == {str(weights): None}


@pytest.mark.parametrize("name", ["unet", "zhang", "gray"])
def test_a_builtin_fingerprint_covers_the_network_that_its_build_imports(name):
    """The declaration (the entry point, no torch) and the network (imported by build) are both
    hashed, so editing either makes the plugin's runs stale."""
    import hashlib

    from colorbench.models import plugin_info
    from colorbench.models.fingerprint import _package_files, code_fingerprint, file_digest

    info = plugin_info(name)
    files, base = _package_files(info.value.partition(":")[0])
    hashed = {p.relative_to(base).as_posix() for p in files}
    assert hashed == {f"colorbench/models/{name}.py", f"colorbench/models/networks/{name}.py"}
    lines = sorted(f"{p.relative_to(base).as_posix()} {file_digest(p)}" for p in files)
    assert code_fingerprint(info.value, None) == hashlib.sha256("\n".join(lines).encode()).hexdigest()
    # Building a variant imports exactly its own network module, which is hashed.
    code = (
        "import sys\n"
        f"from colorbench.models import get_generator\nplugin = get_generator({name!r})\n"
        "assert 'torch' not in sys.modules\n"
        "before = set(sys.modules)\n"
        "plugin.create(plugin.default_for(64), 64)\n"
        "print(*sorted(m for m in set(sys.modules) - before if m.startswith('colorbench.models.networks.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    imported = {m.replace(".", "/") + ".py" for m in result.stdout.split()}
    assert imported == {f"colorbench/models/networks/{name}.py"} <= hashed


def test_files_read_only_under_an_option_are_part_of_the_identity_of_those_runs(tmp_path, monkeypatch):
    from colorbench.models import GeneratorPlugin, Option, PluginContractError, Variant, identity, registry

    weights = tmp_path / "pretrained.bin"
    weights.write_bytes(b"weights")

    def make(files_for) -> GeneratorPlugin:
        return GeneratorPlugin(
            name="optfiles",
            description="test plugin reading a file only when pretrained",
            variants={"v": Variant(config={})},
            default_variant="v",
            build=lambda v, s, o: None,
            check=lambda v, s, o: None,
            options={"pretrained": Option(default=False, choices=(False, True), own_weights=True)},
            files_for=files_for,
        )

    plugin = make(lambda variant, options: (str(weights),) if options["pretrained"] else ())
    monkeypatch.setattr(registry, "get_generator", lambda name: plugin)
    monkeypatch.setattr(identity, "get_generator", lambda name: plugin)
    assert identity.variant_files("optfiles", "v") == {}
    assert identity.variant_files("optfiles", "v", {"pretrained": True})[str(weights)].startswith("sha256=")

    plugin = make(lambda variant, options: str(weights))  # a path, not a tuple of paths
    with pytest.raises(PluginContractError, match="files_for"):
        identity.variant_files("optfiles", "v", {"pretrained": True})
    with pytest.raises(PluginContractError, match="files_for must be callable"):
        make("not callable")


def test_fingerprints_cost_milliseconds_and_match_a_wheels_record(tmp_path):
    from colorbench.models import plugin_info
    from colorbench.models.fingerprint import code_fingerprint, file_digest

    info = plugin_info("unet")
    started = time.perf_counter()
    for _ in range(20):
        code_fingerprint(info.value, info.dist_name)
    assert (time.perf_counter() - started) / 20 < 0.5  # generous: it measured ~2 ms (RESULTS.md)
    # The digest is a wheel RECORD's own form, so an installed wheel is fingerprinted from RECORD.
    sample = tmp_path / "x.py"
    sample.write_bytes(b"print(1)\n")
    import base64
    import hashlib

    expected = base64.urlsafe_b64encode(hashlib.sha256(b"print(1)\n").digest()).rstrip(b"=").decode()
    assert file_digest(sample) == f"sha256={expected}"


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"seed": "-1"}, "seed=-1"),
        ({"seed": str(2**63)}, "seed="),
        ({"lr": "nan"}, "lr=nan"),
        ({"lr": "inf"}, "lr=inf"),
        ({"lambda_l1": "nan"}, "lambda_l1=nan"),
        ({"init_gain": "inf"}, "init_gain=inf"),
        ({"beta1": "1.5"}, "beta1=1.5"),
        ({"image_size": "100000"}, "image_size=100000"),
        ({"data_val_fraction": "2"}, "data_val_fraction=2"),
        ({"option.bogus": "1"}, "no option 'bogus'"),
        ({"nope": "1"}, "unknown setting 'nope'"),
    ],
)
def test_validation_happens_once_with_one_error_naming_the_key(changes, key):
    from colorbench.training.spec import InvalidRunError

    with pytest.raises(ColorbenchError, match=key.replace("(", r"\(")) as info:
        resolve_request(RunRequest().with_overrides(changes))
    assert "\n" not in str(info.value)
    if not key.startswith("no option"):
        assert isinstance(info.value, InvalidRunError)


# --------------------------------------------------------------------------- studies on disk
def test_changing_execution_options_of_a_completed_study_trains_nothing(photo_dir, tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    runner = CliRunner()
    first = runner.invoke(main, _study(photo_dir, out, cache))
    assert first.exit_code == 0, first.output
    before = _epoch_lines(out)
    assert len(before) == 3
    again = runner.invoke(
        main,
        _study(
            photo_dir,
            out,
            cache,
            "--set",
            "eval_every=1",
            "--set",
            "tensorboard=true",
            "--set",
            "num_samples=3",
            "--set",
            "device=cpu",
        ),
    )
    assert again.exit_code == 0, again.output
    assert "3 done, 0 to run" in again.output
    assert _epoch_lines(out) == before
    assert sorted(p.name for p in (out / "studies").glob("*.json")) == ["unet-init.json"]  # the same design


def test_two_designs_under_one_name_keep_both_records(photo_dir, tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    runner = CliRunner()
    assert runner.invoke(main, _study(photo_dir, out, cache, "--dry-run")).exit_code == 0
    assert runner.invoke(main, _study(photo_dir, out, cache)).exit_code == 0
    other = runner.invoke(main, _study(photo_dir, out, cache, "--set", "lr=1e-4"))
    assert other.exit_code == 0, other.output
    records = sorted(p.name for p in (out / "studies").glob("*.json"))
    assert len(records) == 2 and "unet-init.json" in records
    first = json.loads((out / "studies" / "unet-init.json").read_text())
    assert first["overrides"] == {"data_limit": "none", "data_seed": "1"}
    # The same name given explicitly for another design: one line, exit 2, nothing replaced.
    named = runner.invoke(main, _study(photo_dir, out, cache, "--study", "unet-init", "--set", "lr=2e-4"))
    assert named.exit_code == 2 and named.output.count("\n") == 1
    assert "--study NAME" in named.output
    assert json.loads((out / "studies" / "unet-init.json").read_text()) == first


def test_a_plugin_edited_in_place_makes_its_runs_stale_and_they_retrain(tmp_path, bridged_venv):
    """An editable plugin whose code changes (same version): --dry-run says stale; the run retrains."""
    if __import__("importlib").util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed: the test plugin cannot be built offline")
    root = tmp_path / "plug"
    created = CliRunner().invoke(main, ["plugin", "new", "stalecheck", str(root)])
    assert created.exit_code == 0, created.output
    python = bridged_venv(tmp_path / "venv")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], capture_output=True, text=True, env=env, cwd=tmp_path)

    install = run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(root))
    assert install.returncode == 0, install.stderr
    out = tmp_path / "runs"
    study = ["-m", "colorbench", "run", "--plugin", "stalecheck", "--vary", "init", "--preset", "smoke"]
    study += ["--values", "init=xavier", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    first = run(*study)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 done, 0 to run" in run(*study, "--dry-run").stdout

    (module,) = [p for p in root.rglob("*.py") if "PLUGIN = " in p.read_text()]
    module.write_text(module.read_text() + "\n# a change of the plugin's code\n")
    dry = run(*study, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("stale: plugin code changed since") == 2, dry.stdout
    assert "2 to run (2 stale)" in dry.stdout
    again = run(*study)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2/2 runs done" in again.stdout
    results = run("-m", "colorbench", "results", "--out", str(out), "--stale")
    assert results.returncode == 0, results.stderr
    lines = results.stdout.strip().splitlines()[1:]
    assert sum(",stale," in line for line in lines) == 2 and sum(",completed," in line for line in lines) == 2


def test_the_driver_never_resolves_the_hardware(photo_dir, tmp_path, monkeypatch):
    """Ray: the driver sees no accelerator (and may not resolve one); each task resolves auto itself."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'colorbench[ray]')")
    from colorbench.study.executors import RayExecutor
    from colorbench.study.plan import build_plan
    from colorbench.study.runner import run_study
    from colorbench.training import hardware

    def no_resolution_here(*args, **kwargs):
        raise AssertionError("the driver resolved a device or precision")

    monkeypatch.setattr(hardware, "resolve_device", no_resolution_here)
    monkeypatch.setattr(hardware, "resolve_precision", no_resolution_here)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    cache = tmp_path / "cache"
    plan = build_plan(
        name="ray-auto",
        plugins=["unet"],
        factors=["init"],
        preset="smoke",
        overrides={"data_limit": "none", "data_seed": "1", "num_samples": "1"},
        seeds=1,
        values={"init": ("xavier",)},
        data=f"folder:{photo_dir}",
        cache_dir=str(cache),
    )
    assert {r.spec.precision for r in plan.runs} == {"auto"}
    # The "GPU side": the tasks' own hardware says it runs bf16 natively.
    executor = RayExecutor(num_cpus=2, env={"COLORBENCH_NATIVE_BF16": "1"})
    try:
        result = run_study(plan, tmp_path / "runs", executor, command="test", cache_dir=str(cache))
    finally:
        executor.shutdown()
        if ray.is_initialized():
            ray.shutdown()
    assert {o["status"] for o in result.outcomes} == {"completed"}, result.outcomes
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/summary.json")]
    assert len(summaries) == 2
    assert {s["precision"] for s in summaries} == {"bf16"} and {s["device"] for s in summaries} == {"cpu"}
    assert all(s["hardware"]["native_bf16"] for s in summaries)


def test_old_format_stores_render_in_results_and_report(tmp_path):
    """A store written by colorbench 0.1.0 (format 1 records) still reads and renders."""
    from test_results import study_store

    store = study_store(tmp_path)
    runner = CliRunner()
    results = runner.invoke(main, ["results", "--out", str(store)])
    assert results.exit_code == 0, results.output
    assert "Glorot init" in results.output and "n_down = 7" in results.output
    for fmt in ("markdown", "html"):
        report = runner.invoke(
            main,
            [
                "report",
                "--out",
                str(store),
                "--format",
                fmt,
                "-o",
                str(tmp_path / f"r.{fmt}"),
                "--no-figures",
            ],
        )
        assert report.exit_code == 0, report.output
    assert "He init" in (tmp_path / "r.markdown").read_text()


def test_only_the_store_package_knows_a_run_directorys_file_names():
    package = Path(__import__("colorbench").__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        if "store" in path.relative_to(package).parts[:1]:
            continue
        text = path.read_text()
        for name in ("summary.json", "metrics.jsonl", "checkpoint.pt", "config.json", "per_image.parquet"):
            if name in text:
                offenders.append(f"{path.relative_to(package)}: {name}")
    assert offenders == []
