"""The results store: one package owns its layout, its records and every read and write of them.

    Store(root)                 the one object that finds runs, studies and baselines (``store.py``)

    <store>/
      studies/<name>.json       study records (``studies.py``; schema ``records.StudyRecord``)
      <run_id>/                 one directory per run (``rundir.py``; schemas ``RunRecord``, ``Summary``)
      baselines/<data key>/     the gray baseline of one data split, written once (``baselines.py``)
      judgments/judgments.sqlite    people's answers of ``colorbench judge`` (``judgments.py``)

Format: docs/results-store.md. Nothing outside this package opens a file of a run directory, joins
a path to a run or names a file in it, and no status is a string outside ``status.py``
(``tests/test_architecture.py``).
Importing it is light (no torch): the checkpoint code is imported when a checkpoint is touched.
"""

from colorbench.store.atomic import atomic_write_bytes, atomic_write_json, atomic_write_jsonl
from colorbench.store.judgments import judgments_db_path
from colorbench.store.locks import RunBusy, run_lock, wait_for_run
from colorbench.store.records import RunRecord, StudyRecord, Summary, UnreadableRecordError
from colorbench.store.rundir import RunDirectory
from colorbench.store.status import Status
from colorbench.store.store import Store
from colorbench.store.studies import StudyNameTakenError, check_study_name, list_studies

__all__ = [
    "RunBusy",
    "RunDirectory",
    "RunRecord",
    "Status",
    "Store",
    "StudyNameTakenError",
    "StudyRecord",
    "Summary",
    "UnreadableRecordError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_jsonl",
    "check_study_name",
    "judgments_db_path",
    "list_studies",
    "run_lock",
    "wait_for_run",
]
