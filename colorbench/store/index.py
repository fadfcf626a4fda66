"""An index of a store's runs by lineage: the same setting made with other plugin code or weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from colorbench.store.records import UnreadableRecordError
from colorbench.store.status import Status

if TYPE_CHECKING:
    from colorbench.store.store import Store


@dataclass(frozen=True)
class IndexEntry:
    run_id: str
    status: Status
    spec: dict[str, Any]

    def changes(self, spec) -> list[str]:
        """What differs in the plugin's identity between this run and ``spec`` (a RunSpec)."""
        old, new = self.spec.get("plugin") or {}, spec.plugin
        names = {"fingerprint": "plugin code", "version": "plugin version", "files": "weights file"}
        return [text for key, text in names.items() if old.get(key) != new.get(key)]


def lineage_index(store: Store | str | Path) -> dict[str, list[IndexEntry]]:
    """lineage hash -> runs of the store with that lineage (format 2 records only)."""
    from colorbench.store.store import Store

    if not isinstance(store, Store):
        store = Store(store)
    index: dict[str, list[IndexEntry]] = {}
    for run in store.runs():
        try:
            record = run.read_record()
        except (UnreadableRecordError, OSError):
            continue
        if not record.lineage:
            continue
        status, _ = run.state()
        index.setdefault(record.lineage, []).append(IndexEntry(record.run_id, status, record.spec))
    return index
