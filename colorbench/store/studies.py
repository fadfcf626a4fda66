"""Study records (``studies/<name>.json``): identified by their design, never silently replaced.

A study's design is what it asks for: generators, factors, levels, seeds, preset, the overrides
that change results, the data. Its hash is the record's identity. Rerunning the same design
rewrites the same record (new ``updated`` time, the run ids of today's plan); a different design
under a name that is taken is refused with :class:`StudyNameTakenError` (one line naming
``--study``), so no earlier study's runs vanish from ``results`` and ``report``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from filelock import FileLock

from colorbench.errors import ColorbenchError
from colorbench.store.atomic import atomic_write_json
from colorbench.store.locks import now
from colorbench.store.records import STUDY_FORMAT, StudyRecord, UnreadableRecordError

STUDIES = "studies"
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class StudyNameTakenError(ColorbenchError):
    """The study name is recorded with another design."""


def check_study_name(name: str) -> str:
    if not isinstance(name, str) or not _STUDY_NAME.match(name):
        raise ColorbenchError(f"study name {name!r} may hold letters, digits and _.+- only")
    return name


def design_hash(design: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(design, sort_keys=True, default=str).encode()).hexdigest()


def studies_dir(root: Path) -> Path:
    return Path(root) / STUDIES


def study_path(root: Path, name: str) -> Path:
    return studies_dir(root) / f"{check_study_name(name)}.json"


def list_studies(root: Path) -> list[str]:
    folder = studies_dir(root)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json"))


def read_study(root: Path, name: str) -> StudyRecord:
    """The record of study ``name``; one-line errors for a missing or malformed one."""
    path = study_path(root, name)
    if not path.is_file():
        known = list_studies(root)
        hint = f"studies: {', '.join(known)}" if known else "the store holds no study records"
        raise ColorbenchError(f"no study {name!r} in {root} ({hint})")
    try:
        return StudyRecord.read(path)
    except UnreadableRecordError as exc:
        raise ColorbenchError(f"study record {path} is malformed: {exc.reason}") from None
    except OSError as exc:
        raise ColorbenchError(f"study record {path} cannot be read: {exc.strerror or exc}") from None


def existing_design_hash(root: Path, name: str) -> str | None:
    """The design hash recorded under ``name``: None if free; "" if the record predates design hashes."""
    path = study_path(root, name)
    if not path.exists():
        return None
    try:
        return StudyRecord.read(path).design_hash or ""
    except (UnreadableRecordError, OSError):
        return ""  # a damaged record: treat as taken by an unknown design


def free_study_name(root: Path, name: str, design: str) -> str:
    """``name`` if free or holding this design, else ``name-<design hash prefix>`` (a defaulted name)."""
    recorded = existing_design_hash(root, name)
    if recorded is None or recorded == design:
        return name
    return f"{name}-{design[:8]}"


def write_study(root: Path, record: StudyRecord) -> Path:
    """Create or update the study's record; refuse one whose name holds another design."""
    path = study_path(root, record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = now()
    with FileLock(str(path) + ".lock"):
        created = stamp
        if path.exists():
            try:
                existing = StudyRecord.read(path)
            except UnreadableRecordError:
                existing = None  # damaged: replaced whole, since this design is being run now
            if existing is not None:
                if existing.design_hash != record.design_hash:
                    raise StudyNameTakenError(
                        f"study {record.name!r} in {root} was recorded with another design "
                        f"({_difference(existing, record)}); choose another name with --study NAME"
                    )
                created = existing.created or stamp
        record.created, record.updated, record.format_version = created, stamp, STUDY_FORMAT
        atomic_write_json(path, record.to_dict())
    return path


def _difference(old: StudyRecord, new: StudyRecord) -> str:
    if not old.design:
        return "by an older colorbench"
    changed = [
        key for key in sorted(set(old.design) | set(new.design)) if old.design.get(key) != new.design.get(key)
    ]
    return "differs in " + ", ".join(changed) if changed else "another design"
