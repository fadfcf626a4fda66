"""Executors are plugins (issue 22): the ``colorbench.executors`` group, its contract and the CLI.

Needs colorbench installed (``pip install -e .``): the built-ins come through the entry points of
its distribution. A third-party executor is simulated as tests/test_registry.py does it: a small
``*.dist-info`` (what pip would install) and its module in a temporary directory, put on the path
of a ``colorbench`` subprocess, which is how a user meets it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from colorbench.errors import ColorbenchError
from colorbench.study import executor_plugins
from colorbench.study.executor_plugins import (
    EXECUTORS,
    ExecutorOption,
    ExecutorOptionError,
    ExecutorPlugin,
    make_executor,
    parse_executor_options,
)
from colorbench.study.executors import LocalExecutor

INLINE = '''
"""A third party's executor: every run in the study's own process, each announced with a tag."""
from colorbench.study.executor_plugins import ExecutorOption, ExecutorPlugin
from colorbench.study.executors import execute_task


class InlineExecutor:
    name = "inline"

    def __init__(self, tag, repeat):
        self.tag, self.repeat = tag, repeat

    def run(self, tasks, on_outcome):
        for task in tasks:
            print(f"inline executor [{self.tag}] x{self.repeat}: {task.label}", flush=True)
            on_outcome(execute_task(task))


PLUGIN = ExecutorPlugin(
    name="inline",
    description="every run in the study's process (a test executor)",
    create=lambda options: InlineExecutor(options["tag"], options["repeat"]),
    options={
        "tag": ExecutorOption(str, "untagged", "printed with every run"),
        "repeat": ExecutorOption(int, 1, "a number, to check that options are typed"),
    },
)
'''
MODULES = {
    "cbexec_inline": INLINE,
    "cbexec_raises": "raise RuntimeError('no scheduler here')",
    "cbexec_notaplugin": "PLUGIN = object()",
}
ENTRIES = {
    "inline": "cbexec_inline:PLUGIN",
    "broken": "cbexec_raises:PLUGIN",
    "wrongtype": "cbexec_notaplugin:PLUGIN",
}
ONE_SMOKE_RUN = (
    "--plugin", "unet", "--preset", "smoke", "--set", "precision=fp32",
    "--vary", "lr", "--values", "lr=0.0005",  # a study of one run: the baseline
)  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_registry():
    EXECUTORS.refresh()
    yield
    EXECUTORS.refresh()
    for name in [m for m in sys.modules if m.startswith("cbexec_")]:
        del sys.modules[name]


@pytest.fixture
def third_party(tmp_path, monkeypatch) -> Path:
    """A distribution 'cbexec-plugins' registering ENTRIES; its folder is on sys.path (returned)."""
    root = tmp_path / "site"
    info = root / "cbexec_plugins-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cbexec-plugins\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in ENTRIES.items())
    (info / "entry_points.txt").write_text(f"[{executor_plugins.ENTRY_POINT_GROUP}]\n{lines}")
    for module, source in MODULES.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(root))
    EXECUTORS.refresh()
    return root


def colorbench(site: Path, *args: str) -> subprocess.CompletedProcess:
    paths = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.run(
        [sys.executable, "-m", "colorbench", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
    )


# --------------------------------------------------------------------------- the registry
def test_the_builtins_come_through_their_entry_points():
    assert {"local", "ray"} <= set(EXECUTORS.builtin_names()), "colorbench is not installed: pip install -e ."
    for name in ("local", "ray"):
        info = EXECUTORS.info(name)
        assert info.value == f"colorbench.study.executor_plugins:{name.upper()}"
        assert info.dist_name == "colorbench"
    executor = make_executor("local", {"workers": "3"})
    assert isinstance(executor, LocalExecutor) and executor.workers == 3
    assert make_executor("local").workers is None  # devices x runs per device (tests/test_placement.py)


def test_broken_executors_are_reported_and_the_others_keep_working(third_party):
    usable, skipped = EXECUTORS.usable()
    assert {"local", "inline"} <= set(usable)
    reasons = dict(skipped)
    assert "RuntimeError: no scheduler here" in reasons["broken"]
    assert "not a colorbench.study.executor_plugins.ExecutorPlugin" in reasons["wrongtype"]
    with pytest.raises(ColorbenchError, match="executor 'broken' .* is broken: import of cbexec_raises"):
        make_executor("broken")
    with pytest.raises(ColorbenchError, match=r"unknown executor 'nope'; available: .*inline.*local"):
        make_executor("nope")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: make_executor("local", {"address": "auto"}), "executor 'local' has no option 'address'"),
        (lambda: make_executor("local", {"workers": "two"}), "workers='two': expected int"),
        (lambda: make_executor("local", {"workers": 0}), "--workers must be at least 1"),
        (lambda: parse_executor_options(["workers"]), "--executor-option expects KEY=VALUE"),
    ],
)
def test_bad_executor_options_are_one_line_errors(call, message):
    with pytest.raises(ColorbenchError, match=message):
        call()


def test_option_values_are_parsed_by_their_type():
    flag = ExecutorOption(bool, False)
    assert flag.parse("k", "yes") is True and flag.parse("k", "off") is False
    assert ExecutorOption(float, 1.0).parse("k", "0.5") == 0.5
    with pytest.raises(ExecutorOptionError):
        flag.parse("k", "maybe")
    with pytest.raises(ColorbenchError, match="default 'one' is not a int"):
        ExecutorPlugin("x", "an executor", create=dict, options={"n": ExecutorOption(int, "one")})


# --------------------------------------------------------------------------- the command line
def test_a_third_party_executor_is_offered_by_colorbench_run_and_runs_a_study(third_party, tmp_path):
    shown = colorbench(third_party, "run", "--help")
    assert shown.returncode == 0, shown.stderr
    help_text = " ".join(shown.stdout.split())
    assert "inline: every run in the study's process (a test executor) (options: tag, repeat)" in help_text
    assert "local: this machine" in help_text and "ray: a Ray cluster" in help_text
    assert "broken is not usable (broken: import of cbexec_raises:PLUGIN failed" in help_text

    store = tmp_path / "runs"
    args = ["run", *ONE_SMOKE_RUN, "--executor", "inline", "--out", str(store)]
    result = colorbench(third_party, *args, "--executor-option", "tag=hello", "--executor-option", "repeat=2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "training 1 run(s) with the inline executor" in result.stdout
    assert "inline executor [hello] x2: unet Default seed 0" in result.stdout
    (summary,) = [json.loads(p.read_text()) for p in store.glob("unet-*/summary.json")]
    assert summary["status"] == "completed"


@pytest.mark.parametrize(
    "args, words",
    [
        (("--executor", "nope"), ("unknown executor 'nope'", "inline", "local", "ray", "not usable: broken")),
        (("--executor", "broken"), ("executor 'broken'", "RuntimeError: no scheduler here")),
        (("--executor", "inline", "--workers", "2"), ("executor 'inline' has no option 'workers'", "tag")),
        (("--executor", "inline", "--executor-option", "repeat=x"), ("repeat='x': expected int",)),
    ],
)
def test_executor_mistakes_are_one_line_usage_errors(third_party, tmp_path, args, words):
    result = colorbench(third_party, "run", *ONE_SMOKE_RUN, *args, "--out", str(tmp_path / "runs"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    for word in words:
        assert word in line, line
    assert not (tmp_path / "runs").exists(), "nothing may start before the executor is known"
