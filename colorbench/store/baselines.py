"""The gray baseline of a data split, written once per split (not once per run).

    <store>/baselines/<data key>/
      gray.json                 the split's gray metrics (means), image ids, sample names -- written last
      gray_per_image.parquet    image_id and the metrics of predicting ab = 0, per val image
      samples/NNN_input.png     grey input of val image NNN (the first ``num_samples`` val images)
      samples/NNN_truth.png     its ground truth

The data key is the prepared cache's content key, so every run on the same split shares one
baseline. The first run that needs it writes it under ``<data key>.lock``; the others read it.
"""

from __future__ import annotations

import io
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

from colorbench.store.atomic import atomic_write_bytes, atomic_write_json
from colorbench.store.records import UnreadableRecordError, read_json
from colorbench.store.rundir import SAMPLES, sample_name, saved_sample_indices

BASELINES = "baselines"
GRAY_RECORD = "gray.json"
GRAY_PER_IMAGE = "gray_per_image.parquet"


class BaselineDirectory:
    def __init__(self, root: str | Path, data_key: str) -> None:
        self.root = Path(root)
        self.data_key = data_key
        self.path = self.root / BASELINES / data_key

    @contextmanager
    def lock(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path.parent / f"{self.data_key}.lock")):
            yield

    def complete(self) -> bool:
        return (self.path / GRAY_RECORD).is_file()

    def read_record(self) -> dict[str, Any] | None:
        """gray.json, or None when this split has no baseline yet (or it is damaged)."""
        try:
            record = read_json(self.path / GRAY_RECORD)
        except (FileNotFoundError, UnreadableRecordError):
            return None
        return record if isinstance(record, dict) and isinstance(record.get("means"), dict) else None

    def read_per_image(self):
        import pandas as pd

        path = self.path / GRAY_PER_IMAGE
        if not path.exists():
            return None
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # a damaged file: say which
            raise UnreadableRecordError(path, f"{type(exc).__name__}: {exc}") from None

    def sample_path(self, index: int, kind: str) -> Path:
        return self.path / SAMPLES / sample_name(index, kind)

    def sample_count(self) -> int:
        """How many sample images (inputs and truths together) the complete baseline holds; 0 if none."""
        record = self.read_record()
        return len(record.get("samples", [])) if record is not None else 0

    def saved_samples(self, kind: str) -> list[int]:
        """Val indices whose ``kind`` image (input, truth) the baseline saved, ascending."""
        return saved_sample_indices(self.path / SAMPLES, kind)

    def write(
        self,
        means: dict[str, float],
        per_image,
        image_ids: list[str],
        samples: dict[tuple[int, str], bytes],
    ) -> None:
        """Write the baseline (call holding :meth:`lock`); gray.json last marks it complete.

        ``samples``: PNG bytes by (val index, kind), kind ``input`` or ``truth``.
        """
        (self.path / SAMPLES).mkdir(parents=True, exist_ok=True)
        names = []
        for (index, kind), data in samples.items():
            names.append(sample_name(index, kind))
            atomic_write_bytes(self.sample_path(index, kind), data)
        buffer = io.BytesIO()
        per_image.to_parquet(buffer, index=False)
        atomic_write_bytes(self.path / GRAY_PER_IMAGE, buffer.getvalue())
        atomic_write_json(
            self.path / GRAY_RECORD,
            {
                "format_version": 1,
                "data_key": self.data_key,
                "n_images": len(image_ids),
                "means": means,
                "image_ids": list(image_ids),
                "samples": sorted(names),
            },
        )


def read_gray_record(root: Path, data_key: str | None) -> dict[str, Any] | None:
    if not data_key:
        return None
    return BaselineDirectory(root, data_key).read_record()


def image_ids_json(ids: list[str]) -> str:
    return json.dumps(ids)
