"""Faults injected into real ``colorbench`` processes: bad input, damaged stores, kills, unwritable paths.

Every test runs the command line in a subprocess, as a user would, and asserts what the user sees:
the exit code, one line on stderr instead of a traceback, and a store that the next (single) rerun
completes. Read-only paths are made real for root, who ignores mode bits, by dropping the
capabilities that let it (``setpriv``). Kill times come from the epoch lines a run prints, never
from a fixed sleep.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SMOKE = ("--plugin", "unet", "--preset", "smoke", "--set", "precision=fp32")
ONE_RUN = ("--vary", "lr", "--values", "lr=0.0005")  # a study of one run: the baseline
NO_ROOT_POWERS = (
    "setpriv",
    "--inh-caps=-dac_override,-fowner",
    "--bounding-set=-dac_override,-fowner",
)


def colorbench(*args: str, cwd: Path | None = None, umask: int | None = None, as_user: bool = False):
    """Run ``python -m colorbench ARGS`` to the end; returns the CompletedProcess (text)."""
    command = [sys.executable, "-m", "colorbench", *args]
    if as_user:
        command = [*NO_ROOT_POWERS, *command]

    def child_setup() -> None:
        # A shell that starts pytest in the background makes SIGINT ignored; a user's shell does not.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=600, preexec_fn=child_setup
    )


def assert_one_line_error(result, code: int = 2, *words: str) -> str:
    """Exit ``code``, no traceback, and the last stderr line an ``error:`` naming ``words``."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def summaries(store: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in store.glob("*/summary.json")}


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.fixture(scope="module")
def smoke_store(module_tmp) -> Path:
    """A completed study of three smoke runs (unet, init varied), written with umask 022."""
    store = module_tmp("smoke") / "runs"
    result = colorbench("run", *SMOKE, "--vary", "init", "--out", str(store), umask=0o022)
    assert result.returncode == 0, result.stdout + result.stderr
    return store


@pytest.fixture
def store_copy(smoke_store, tmp_path) -> Path:
    copy = tmp_path / "runs"
    shutil.copytree(smoke_store, copy, symlinks=True)
    return copy


def run_dirs(store: Path) -> list[Path]:
    return sorted(p for p in store.glob("unet-*") if p.is_dir())


# --------------------------------------------------------------------------- exit codes
def test_run_exits_0_when_every_run_is_already_done(store_copy):
    result = colorbench("run", *SMOKE, "--vary", "init", "--out", str(store_copy))
    assert result.returncode == 0, result.stderr
    assert "0 to run" in result.stdout


def test_run_exits_2_before_training_when_the_folder_holds_no_images(tmp_path):
    folder = tmp_path / "not-photos"
    folder.mkdir()
    for i in range(12):
        (folder / f"photo{i}.jpg").write_bytes(b"not a jpeg at all " * (i + 1))
    store = tmp_path / "runs"
    result = colorbench("run", *SMOKE, *ONE_RUN, "--data", f"folder:{folder}", "--out", str(store))
    assert_one_line_error(result, 2, "usable")
    assert not list(store.glob("unet-*")), "no run may start on unusable data"


def test_run_exits_2_before_training_when_annotations_list_only_absent_files(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    annotations = tmp_path / "instances.json"
    annotations.write_text(
        json.dumps(
            {
                "images": [
                    {"id": i, "file_name": f"absent{i}.jpg", "width": 40, "height": 30} for i in range(30)
                ],
                "annotations": [],
                "categories": [{"id": 1, "name": "dog"}],
            }
        )
    )
    store = tmp_path / "runs"
    result = colorbench(
        "run", *SMOKE, *ONE_RUN, "--data", f"coco:{images}:{annotations}", "--out", str(store)
    )
    assert_one_line_error(result, 2, "missing")
    assert not list(store.glob("unet-*"))


def test_run_exits_2_when_nothing_can_run(tmp_path):
    # The smoke split has 19 train images: a batch of 100 makes every setting infeasible.
    result = colorbench(
        "run", *SMOKE, "--vary", "init", "--set", "batch_size=100", "--out", str(tmp_path / "r")
    )
    assert_one_line_error(result, 2, "nothing can run")
    assert "infeasible" in result.stdout  # the plan above the error says why, run by run


def test_run_exits_2_for_a_seed_out_of_range(tmp_path):
    result = colorbench("run", *SMOKE, *ONE_RUN, "--set", "seed=-1", "--out", str(tmp_path / "r"))
    assert_one_line_error(result, 2, "seed")


@pytest.mark.slow
def test_run_exits_1_when_a_run_fails(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.backends.mps.is_available():
        pytest.skip("this machine has the mps device the test asks for in vain")
    store = tmp_path / "runs"
    # The device is resolved by the worker that trains the run, so its absence fails the run itself.
    result = colorbench("run", *SMOKE, *ONE_RUN, "--set", "device=mps", "--out", str(store))
    assert result.returncode == 1, result.stdout + result.stderr
    no_traceback(result)
    assert "1 failed" in result.stdout
    assert [s["status"] for s in summaries(store).values()] == ["failed"]


# --------------------------------------------------------------------------- the store's files
def test_store_files_honour_the_umask(smoke_store):
    """Written with umask 022: group and others may read every file (a shared filesystem)."""
    files = [p for p in smoke_store.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert any(p.name == "checkpoint.pt" for p in files) and any(p.name == "summary.json" for p in files)
    private = [str(p) for p in files if stat.S_IMODE(p.stat().st_mode) & 0o044 != 0o044]
    assert not private, private


def test_damaged_records_are_one_line_each_and_the_next_run_heals_them(store_copy):
    wrong_shape, not_an_object, torn = run_dirs(store_copy)
    (wrong_shape / "config.json").write_text('"a string where an object belongs"\n')
    (not_an_object / "summary.json").write_text("[1, 2]\n")
    with open(torn / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "loss_G": 1.')  # a line torn by a kill
    shutil.rmtree(torn / "samples")
    out = ["--out", str(store_copy)]

    results = colorbench("results", *out)
    assert results.returncode == 0, results.stderr
    no_traceback(results)
    stderr = results.stderr
    assert f"this run's record is unreadable: {wrong_shape / 'config.json'}" in stderr
    assert f"this run's record is unreadable: {not_an_object / 'summary.json'}" in stderr
    assert f"warning: {torn / 'metrics.jsonl'}: 1 unreadable line(s) ignored" in stderr
    assert f"warning: {torn / 'samples'} is missing" in stderr
    assert all(len(line) < 400 for line in stderr.splitlines())

    report = colorbench("report", *out, "--format", "html", "-o", str(store_copy.parent / "rep" / "r.html"))
    assert report.returncode == 0, report.stderr
    no_traceback(report)
    assert f"this run's record is unreadable: {not_an_object / 'summary.json'}" in report.stderr
    assert f"{torn / 'samples'} is missing" in report.stderr

    plan = colorbench("run", *SMOKE, "--vary", "init", *out, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    no_traceback(plan)
    assert plan.stdout.count("this run's record is unreadable") == 2
    assert "2 to run" in plan.stdout

    healed = colorbench("run", *SMOKE, "--vary", "init", *out)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    no_traceback(healed)
    again = colorbench("run", *SMOKE, "--vary", "init", *out, "--dry-run")
    assert "3 runs: 3 done, 0 to run" in again.stdout, again.stdout
    assert {s["status"] for s in summaries(store_copy).values()} == {"completed"}


def test_a_truncated_checkpoint_of_an_interrupted_run_retrains_it_from_scratch(store_copy):
    victim = run_dirs(store_copy)[0]
    summary = json.loads((victim / "summary.json").read_text())
    summary["status"] = "running"  # as a kill -9 leaves it: nobody holds the lock
    (victim / "summary.json").write_text(json.dumps(summary))
    checkpoint = victim / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    out = ["--out", str(store_copy)]

    listed = colorbench("results", *out, "--format", "json")
    rows = {r["run_id"]: r for r in json.loads(listed.stdout)}
    assert rows[victim.name]["status"] == "interrupted"

    plan = colorbench("run", *SMOKE, "--vary", "init", *out, "--dry-run")
    no_traceback(plan)
    assert f"its checkpoint {checkpoint} is damaged: starts again from scratch" in plan.stdout

    rerun = colorbench("run", *SMOKE, "--vary", "init", *out)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    no_traceback(rerun)
    assert f"its checkpoint {checkpoint} is damaged" in rerun.stdout  # the plan's line
    said = [line for line in rerun.stdout.splitlines() if "the run starts again from scratch" in line]
    assert len(said) == 1 and str(checkpoint) in said[0], rerun.stdout  # the trainer's one line
    assert summaries(store_copy)[victim.name]["status"] == "completed"
    assert "0 to run" in colorbench("run", *SMOKE, "--vary", "init", *out, "--dry-run").stdout


def _epochs_logged(log: Path) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(r"^epoch (\d+)/\d+ ", log.read_text(), re.MULTILINE)]


def test_kill_9_during_training_then_one_rerun_completes(tmp_path):
    torch = pytest.importorskip("torch")
    store = tmp_path / "runs"
    epochs = 5
    # A checkpoint at every epoch (the default budget would leave none before the end).
    args = [
        "run",
        *SMOKE,
        *ONE_RUN,
        "--set",
        f"epochs={epochs}",
        "--set",
        "checkpoint_every=0",
        "--out",
        str(store),
    ]
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "colorbench", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    for line in process.stdout:  # kill at an observed epoch boundary: training is under way
        seen.append(line)
        if line.startswith("epoch 2/"):
            break
    process.kill()
    process.wait()
    process.stdout.close()
    assert any(line.startswith("epoch 2/") for line in seen), "".join(seen)
    (run_dir,) = run_dirs(store)

    listed = json.loads(colorbench("results", "--out", str(store), "--format", "json").stdout)
    assert [r["status"] for r in listed] == ["interrupted"]

    checkpoint_epoch = int(torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"])
    plan = colorbench(*args, "--dry-run")
    assert f"resume after epoch {checkpoint_epoch}" in plan.stdout, plan.stdout

    rerun = colorbench(*args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"resuming {run_dir.name} after epoch {checkpoint_epoch}" in rerun.stdout  # plan and trainer agree
    assert summaries(store)[run_dir.name]["status"] == "completed"
    assert not [p for p in store.rglob("*.tmp")], "a rerun leaves no temporary file behind"
    assert set(_epochs_logged(run_dir / "train.log")) == set(range(1, epochs + 1))


# --------------------------------------------------------------------------- unwritable outputs
needs_setpriv = pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is not installed")


@pytest.fixture
def blocked(tmp_path) -> dict[str, Path]:
    """Three kinds of unwritable place: a read-only folder, a path under a file, a file itself."""
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    yield {"read-only": read_only / "out", "under-a-file": a_file / "out", "a-file": a_file}
    read_only.chmod(0o755)


def _unwritable_commands(kind: str, where: Path, store: Path, photo: Path) -> list[list[str]]:
    run = sorted(store.glob("unet-*"))[0]
    # For "a-file", the report's case is the converse: a folder where its output file belongs.
    report_target = where / "report.html" if kind != "a-file" else where.parent
    return [
        ["run", *SMOKE, *ONE_RUN, "--out", str(where)],
        ["train", *SMOKE, "--out", str(where)],
        ["data", "prepare", "--size", "32", "--limit", "24", "--cache-dir", str(where)],
        ["report", "--out", str(store), "--format", "markdown", "-o", str(report_target)],
        ["colorize", str(photo), "--run", str(run), "--output", str(where)],
    ]


@pytest.mark.slow  # five commands per kind: about 40 s each
@needs_setpriv
@pytest.mark.parametrize("kind", ["read-only", "under-a-file", "a-file"])
def test_unwritable_outputs_are_one_line_and_exit_2(kind, blocked, smoke_store, tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 30, 60)).save(photo)
    before = photo.read_bytes()
    for command in _unwritable_commands(kind, blocked[kind], smoke_store, photo):
        result = colorbench(*command, as_user=True)
        assert result.returncode == 2, (command, result.stdout + result.stderr)
        no_traceback(result)
        assert str(blocked[kind]) in result.stderr or str(blocked[kind].parent) in result.stderr, (
            command,
            result.stderr,
        )
    assert photo.read_bytes() == before


# --------------------------------------------------------------------------- the command line
@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["run", "--help"],
        ["data", "prepare", "--help"],
        ["list"],  # the built-in plugins' declarations need no torch: their networks are apart
        ["list", "zhang", "--image-size", "64"],
    ],
)
def test_start_up_does_not_import_torch(args):
    code = (
        "import sys; from colorbench.cli import main\n"
        f"sys.argv = ['colorbench', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr.strip().splitlines()[-1] == "False", result.stderr


def test_every_option_has_help_and_run_help_lists_the_set_keys():
    import click

    from colorbench.cli import COMMANDS, load_command
    from colorbench.training.spec import SETTING_KEYS

    def options(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from options(sub, [*path, name])
        else:
            for param in command.params:
                if isinstance(param, click.Option):
                    yield " ".join(path), param

    missing = [
        (path, o.opts) for name in COMMANDS for path, o in options(load_command(name), [name]) if not o.help
    ]
    assert not missing, missing
    help_text = colorbench("run", "--help").stdout
    assert all(key in help_text for key in SETTING_KEYS)


def test_old_option_spellings_work_with_one_deprecation_note(tmp_path):
    result = colorbench("data", "info", "--source", "sample", "--size", "32", "--limit", "24")
    assert result.returncode in (0, 1), result.stderr  # 1: not prepared yet in this cache
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 2 and "--image-size" in notes[1] and "--data" in notes[0], result.stderr
    assert "--data sample --image-size 32" in result.stdout or "data:" in result.stdout


def test_a_bad_set_value_is_told_about_the_key_typed(tmp_path):
    result = colorbench("run", *SMOKE, *ONE_RUN, "--set", "image_size=100000", "--out", str(tmp_path / "r"))
    assert_one_line_error(result, 2, "image_size")


def test_train_in_a_terminal_prints_the_run_directory_and_epoch_lines(tmp_path):
    import pty

    store = tmp_path / "runs"
    args = [sys.executable, "-m", "colorbench", "train", *SMOKE, "--set", "epochs=2", "--out", str(store)]
    primary, secondary = pty.openpty()
    process = subprocess.Popen(args, stdout=secondary, stderr=secondary, stdin=subprocess.DEVNULL)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    os.close(primary)
    seen = b"".join(chunks).decode(errors="replace")
    assert process.returncode == 0, seen
    (run_dir,) = run_dirs(store)
    assert f"run directory: {store / run_dir.name}" in seen
    assert "epoch 1/2" in seen and "epoch 2/2" in seen


@pytest.mark.slow  # about 30 s (a report); the CI budget keeps the per-run cases above
def test_a_wrong_shape_study_record_is_one_line_and_the_other_studies_go_on(store_copy):
    (store_copy / "studies" / "broken.json").write_text('"a string where an object belongs"\n')
    results = colorbench("results", "--out", str(store_copy))
    report = colorbench("report", "--format", "markdown", "--out", str(store_copy), cwd=store_copy.parent)
    for result in (results, report):
        assert result.returncode == 0, result.stderr
        no_traceback(result)
        assert "studies/broken.json is malformed" in result.stderr
    assert (store_copy.parent / "reports" / "unet-init" / "report.md").exists()
