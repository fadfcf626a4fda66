"""Architecture contracts over the colorbench/ source tree, in the style of import-linter.

1. Run status is one vocabulary: no status value ("completed", "planned", ...) as a string literal
   in a comparison, a membership test, a status field or a list of statuses, outside
   colorbench/store/status.py. Code compares against ``Status.X`` (``Status.X.value`` in a frame).
2. Only the store knows a run's files: no run-file name (config.json, summary.json, metrics.jsonl,
   per_image.parquet, checkpoint.pt, train.log, error.log, ``_pred.png`` ...) as a string constant,
   and no store folder name (samples, tensorboard, studies, baselines) used as a path component,
   outside colorbench/store/.
3. Only the store finds a run: no ``something / run_id`` path join (nor ``joinpath``,
   ``os.path.join`` or an f-string path ending in a run id) outside colorbench/store/.

Each contract is checked with ``ast`` (not grep: a docstring's "completed" or a column named
"samples" is not a violation), and each has a self-check on a small violating snippet, so that a
checker that finds nothing cannot pass by accident. Which room may import which is the other half
of the map: import-linter's contracts in pyproject.toml (tests/test_layers.py).
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from colorbench.store.status import Status

PACKAGE = Path(__import__("colorbench").__file__).parent
STATUS_MODULE = Path("store/status.py")
STORE_PACKAGE = Path("store")

STATUS_VALUES = frozenset(s.value for s in Status)
# Files of a run (or of a store) whose names only colorbench/store/ may spell.
RUN_FILE_NAMES = (
    "config.json",
    "summary.json",
    "metrics.jsonl",
    "per_image.parquet",
    "checkpoint.pt",
    "train.log",
    "error.log",
    "gray.json",
    "gray_per_image.parquet",
    "_pred.png",
    "_input.png",
    "_truth.png",
    ".lock.owner",
)
# Folder names that are also ordinary words (a column "samples"): flagged only as path components.
STORE_FOLDER_NAMES = ("samples", "tensorboard", "studies", "baselines")
PATH_CALLS = {"Path", "PurePath", "PosixPath", "joinpath", "join", "open", "glob", "rglob", "with_name"}

Violation = str


# --------------------------------------------------------------------------- helpers
def _python_files() -> Iterator[tuple[Path, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE), path.read_text()


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def _name_of(node: ast.AST) -> str | None:
    """The name an expression reads: ``x`` -> x, ``a.b`` -> b, ``d["k"]`` -> k; else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.slice.value if isinstance(node.slice.value, str) else None
    return None


def _is_status_key(node: ast.AST) -> bool:
    """``x.status``, ``x["status"]``, ``x.get("status")`` or a name ``status``."""
    if _name_of(node) == "status":
        return True
    return (
        _call_name(node) == "get"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "status"
    )


def _status_literals(node: ast.AST) -> Iterator[ast.Constant]:
    """String constants holding a status value: the node itself, or the items of a literal collection."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in STATUS_VALUES:
        yield node
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        for item in node.elts:
            yield from _status_literals(item)
    elif isinstance(node, ast.IfExp):  # "planned" if planned else ...
        yield from _status_literals(node.body)
        yield from _status_literals(node.orelse)


def _where(path: Path, node: ast.AST, what: str) -> Violation:
    return f"{path}:{getattr(node, 'lineno', '?')}: {what}"


# --------------------------------------------------------------------------- contract 1: statuses
def status_literal_violations(source: str, path: Path) -> list[Violation]:
    """Status values spelled as string literals where a status is stored, compared or listed."""
    found: list[tuple[ast.AST, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):  # == "completed", in ("failed", ...), != "busy"
            for operand in (node.left, *node.comparators):
                found += [(c, "compared") for c in _status_literals(operand)]
        elif isinstance(node, ast.Call):
            if _call_name(node) in ("isin", "startswith", "endswith", "count", "index") and node.args:
                found += [(c, f"passed to .{_call_name(node)}()") for c in _status_literals(node.args[0])]
            if _is_status_key(node) and len(node.args) > 1:  # .get("status", "planned")
                found += [(c, "a status default") for c in _status_literals(node.args[1])]
            name = _call_name(node) or ""
            if name[:1].isupper():  # a record built with a positional status: RunOutcome(id, "busy")
                for arg in node.args:
                    found += [(c, f"passed to {name}()") for c in _status_literals(arg)]
            for keyword in node.keywords:  # RunOutcome(status="busy"), row.update(status="failed")
                if keyword.arg == "status":
                    found += [(c, "a status= argument") for c in _status_literals(keyword.value)]
        elif isinstance(node, ast.Dict):  # {"status": "planned"}
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "status":
                    found += [(c, 'a "status" value') for c in _status_literals(value)]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):  # x.status = "failed", row["status"] = ...
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None and any(_is_status_key(t) for t in targets):
                found += [(c, "assigned to a status") for c in _status_literals(node.value)]
        elif isinstance(node, ast.BoolOp):  # entry.get("status") or "planned"
            if any(_is_status_key(v) for v in node.values):
                for value in node.values:
                    found += [(c, "a status fallback") for c in _status_literals(value)]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):  # a vocabulary kept beside the enum
            items = node.elts
            if len(items) >= 2 and all(
                isinstance(i, ast.Constant) and isinstance(i.value, str) and i.value in STATUS_VALUES
                for i in items
            ):
                found += [(items[0], "a list of statuses")]
    seen, out = set(), []
    for constant, what in found:
        if id(constant) not in seen:
            seen.add(id(constant))
            out.append(_where(path, constant, f"status {constant.value!r} as a string ({what})"))
    return out


# --------------------------------------------------------------------------- contract 2: file names
def _path_component_constants(tree: ast.AST) -> Iterator[ast.Constant]:
    """String constants used as parts of a path: operands of ``/``, arguments of path calls."""
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and isinstance(side.value, str):
                    yield side
        elif _call_name(node) in PATH_CALLS:
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield arg


def run_file_name_violations(source: str, path: Path) -> list[Violation]:
    tree = ast.parse(source)
    # Docstrings and bare strings document; they open nothing ("appends a line to train.log").
    prose = {
        id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
    }
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            for name in RUN_FILE_NAMES:
                if name in node.value:
                    out.append(_where(path, node, f"run file name {name!r} in a string"))
            for name in STORE_FOLDER_NAMES:  # "x/samples/...", "samples/" in a literal path
                text = node.value
                if f"/{name}/" in text or text.startswith(f"{name}/") or text.endswith(f"/{name}"):
                    out.append(_where(path, node, f"store folder {name!r} in a path string"))
    for node in _path_component_constants(tree):
        if node.value in STORE_FOLDER_NAMES:
            out.append(_where(path, node, f"store folder {node.value!r} joined to a path"))
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- contract 3: run paths
def _is_run_id(node: ast.AST) -> bool:
    name = _name_of(node)
    return isinstance(name, str) and (name == "run_id" or name.endswith("_run_id"))


def run_path_join_violations(source: str, path: Path) -> list[Violation]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _is_run_id(node.right):
            out.append(_where(path, node, "a path joined to a run id (ask Store(root).run(run_id))"))
        elif isinstance(node, ast.Call) and _builds_a_path(node) and any(_is_run_id(a) for a in node.args):
            out.append(_where(path, node, "a path built from a run id (ask Store(root).run(run_id))"))
        elif isinstance(node, ast.JoinedStr):  # f"{root}/{run_id}"
            parts = node.values
            for before, value in zip(parts, parts[1:], strict=False):
                if (
                    isinstance(value, ast.FormattedValue)
                    and _is_run_id(value.value)
                    and isinstance(before, ast.Constant)
                    and str(before.value).endswith("/")
                ):
                    out.append(_where(path, node, "an f-string path ending in a run id"))
    return out


def _builds_a_path(node: ast.Call) -> bool:
    """``x.joinpath(...)``, ``os.path.join(...)`` or ``Path(a, b)`` -- not ``", ".join(...)``."""
    name = _call_name(node)
    if name == "joinpath":
        return True
    if name == "join":
        return not (isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Constant))
    return name in ("Path", "PurePath") and len(node.args) >= 2


# --------------------------------------------------------------------------- the contracts
CONTRACTS: dict[str, tuple[Callable[[str, Path], list[Violation]], Callable[[Path], bool]]] = {
    "status literals": (status_literal_violations, lambda rel: rel == STATUS_MODULE),
    "run file names": (run_file_name_violations, lambda rel: rel.parts[:1] == STORE_PACKAGE.parts),
    "run path joins": (run_path_join_violations, lambda rel: rel.parts[:1] == STORE_PACKAGE.parts),
}


@pytest.mark.parametrize("contract", list(CONTRACTS))
def test_contract_holds_over_the_source_tree(contract):
    check, exempt = CONTRACTS[contract]
    checked, violations = 0, []
    for rel, source in _python_files():
        if exempt(rel):
            continue
        checked += 1
        violations += check(source, rel)
    assert checked > 50, f"only {checked} files checked: is the package where the test looks?"
    assert violations == [], f"{contract} contract broken:\n" + "\n".join(violations)


# --------------------------------------------------------------------------- self-checks
VIOLATING = {
    "status literals": [
        'done = runs[runs["status"] == "completed"]',
        'if outcome["status"] != "busy": pass',
        'rows = runs[runs["status"].isin(("failed", "diverged"))]',
        'NOT_RUN = ("infeasible", "not-applicable", "diverged")',
        'record = {"run_id": r, "status": "planned"}',
        'outcome = RunOutcome(run_id, status="failed")',
        'row.update(status="unreadable")',
        'summary.status = "interrupted"',
        'status = Status.parse(entry.get("status") or "planned")',
        'value = entry.get("status", "planned")',
        'late = any(p.startswith(("running", "not-started")) for p in parts)',
        'if status in {"stale"}: pass',
        'return asdict(RunOutcome(task.run_id, "busy", 0.0, str(busy), host))',
        'record = {"status": "planned" if self.planned else self.status.value}',
    ],
    "run file names": [
        'path = run_dir / "summary.json"',
        'open(os.path.join(root, run_id, "config.json"))',
        'text = f"{run_dir}/metrics.jsonl"',
        'frame = pd.read_parquet(directory / "per_image.parquet")',
        'state = torch.load(Path(d) / "checkpoint.pt")',
        'n = len([s for s in names if s.endswith("_pred.png")])',
        'log = run_dir / "train.log"',
        'folder = run_dir / "samples"',
        'folder = Path(root, "studies")',
        'image = "runs/x/samples/000_pred.png"',
    ],
    "run path joins": [
        "run_dir = root / run_id",
        "run_dir = Path(task.out_dir) / task.run_id",
        'wait_for_run(root / outcome["run_id"])',
        "old = root / old_run_id",
        "path = os.path.join(root, run_id)",
        "path = Path(root).joinpath(run.run_id)",
        'path = f"{root}/{run_id}"',
    ],
}

ALLOWED = {
    "status literals": [
        "done = runs[runs['status'] == Status.COMPLETED.value]",
        'SKIP_REASONS = ("missing", "truncated", "unreadable", "grayscale")',
        'reason = "truncated" if "truncated" in text else "unreadable"',
        'if mark.status == "best": pass',
        '"""Runs that completed or diverged: "completed" is a word here."""',
        'label = "failed" if broken else "ok"',
        'raise ColorbenchError(f"run {run_id} failed")',
    ],
    "run file names": [
        'n = len(shown["samples"])',
        '"""One line to train.log and, when verbose, to stdout."""',
        'record.get("samples", [])',
        'help_text = "Print the samples"',
        "run = Store(root).run(run_id)",
    ],
    "run path joins": [
        "run = Store(root).run(run_id)",
        'label = ", ".join([run_id, other])',
        "ratio = total / n_runs",
        'text = f"run {run_id}: done"',
        "cache = root / data_key",
    ],
}


@pytest.mark.parametrize("contract", list(CONTRACTS))
def test_each_violating_snippet_is_reported(contract):
    check, _ = CONTRACTS[contract]
    missed = [s for s in VIOLATING[contract] if not check(textwrap.dedent(s), Path("snippet.py"))]
    assert missed == [], f"{contract}: the checker let these through: {missed}"


@pytest.mark.parametrize("contract", list(CONTRACTS))
def test_ordinary_code_is_not_reported(contract):
    check, _ = CONTRACTS[contract]
    flagged = {s: check(textwrap.dedent(s), Path("snippet.py")) for s in ALLOWED[contract]}
    assert {s: v for s, v in flagged.items() if v} == {}


def test_the_exemptions_are_the_owners_only():
    _, status_exempt = CONTRACTS["status literals"]
    _, files_exempt = CONTRACTS["run file names"]
    assert status_exempt(Path("store/status.py"))
    assert not status_exempt(Path("store/reader.py"))  # the rest of the store compares members too
    assert files_exempt(Path("store/rundir.py")) and not files_exempt(Path("report/grids.py"))
    assert not files_exempt(Path("training/store.py"))  # a module named store elsewhere is no owner


def test_the_store_owns_the_names_the_contracts_forbid_elsewhere():
    """The names forbidden outside the store are the store's own (the list cannot drift)."""
    from colorbench.store import baselines, locks, rundir, studies

    owned = {
        rundir.CONFIG,
        rundir.SUMMARY,
        rundir.METRICS,
        rundir.PER_IMAGE,
        rundir.CHECKPOINT,
        rundir.LOG,
        rundir.ERROR_LOG,
        baselines.GRAY_RECORD,
        baselines.GRAY_PER_IMAGE,
        locks.OWNER_NAME,
    }
    assert owned <= set(RUN_FILE_NAMES)
    assert {rundir.SAMPLES, rundir.TENSORBOARD, studies.STUDIES, baselines.BASELINES} == set(
        STORE_FOLDER_NAMES
    )
    assert rundir.sample_name(7, "pred").endswith("_pred.png") and "_pred.png" in RUN_FILE_NAMES
