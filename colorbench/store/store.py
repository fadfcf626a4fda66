"""The results store as one object: the only way to find a run, a study or a baseline in it.

    store = Store(root)
    store.run(run_id)          the run's folder (:class:`RunDirectory`): its records, files, lock
    store.runs()               every run folder that holds a run record
    store.studies()            the study names; ``store.study(name)`` reads one record
    store.baseline(data_key)   the gray baseline of one data split (:class:`BaselineDirectory`)

Code outside this package never joins a path to a run or names a file in it: it asks the store
for the run and the run for what it needs (``tests/test_architecture.py`` enforces it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from colorbench.errors import ColorbenchError
from colorbench.store.baselines import BASELINES, BaselineDirectory
from colorbench.store.records import StudyRecord
from colorbench.store.rundir import CONFIG, RunDirectory
from colorbench.store.studies import STUDIES, list_studies, read_study, write_study

if TYPE_CHECKING:
    from colorbench.store.index import IndexEntry

_NOT_RUNS = (STUDIES, BASELINES)


class Store:
    """A results store rooted at ``root`` (``colorbench run --out``); nothing is read until asked."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Store) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def exists(self) -> bool:
        return self.root.is_dir()

    # ------------------------------------------------------------------ runs
    def run(self, run_id: str) -> RunDirectory:
        """The folder of run ``run_id`` (it may not exist yet). A run id is one plain name: an id
        read from a record that would lead out of the store (``../x``, ``a/b``) is refused."""
        if (
            not isinstance(run_id, str)
            or not run_id
            or run_id in (".", "..")
            or "/" in run_id
            or "\\" in run_id
            or run_id in _NOT_RUNS
        ):
            raise ColorbenchError(f"{run_id!r} is not a run id")
        return RunDirectory(self.root / run_id)

    def runs(self) -> list[RunDirectory]:
        """Every run folder of the store that holds a run record, by run id."""
        if not self.root.is_dir():
            return []
        return [RunDirectory(config.parent) for config in sorted(self.root.glob(f"*/{CONFIG}"))]

    def lineage_index(self) -> dict[str, list[IndexEntry]]:
        """lineage hash -> the runs made with that setting (finds stale runs)."""
        from colorbench.store.index import lineage_index

        return lineage_index(self)

    # ------------------------------------------------------------------ studies
    def studies(self) -> list[str]:
        """The names of the store's study records, sorted."""
        return list_studies(self.root)

    def study(self, name: str) -> StudyRecord:
        """The record of study ``name``; one-line :class:`ColorbenchError` if missing or malformed."""
        return read_study(self.root, name)

    def write_study(self, record: StudyRecord) -> Path:
        """Create or update a study record (refused if the name holds another design)."""
        return write_study(self.root, record)

    # ------------------------------------------------------------------ baselines
    def baseline(self, data_key: str) -> BaselineDirectory:
        """The gray baseline of the data split ``data_key`` (it may not be written yet)."""
        return BaselineDirectory(self.root, data_key)

    def baselines(self) -> list[BaselineDirectory]:
        """Every data split's baseline folder present in the store, by data key."""
        folder = self.root / BASELINES
        if not folder.is_dir():
            return []
        return [BaselineDirectory(self.root, p.name) for p in sorted(folder.iterdir()) if p.is_dir()]
