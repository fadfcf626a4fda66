"""Who made each built-in sample photo and under which licence (``sample/ATTRIBUTION.csv``)."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

ATTRIBUTION = Path(__file__).resolve().parent / "sample" / "ATTRIBUTION.csv"
USER_DATA = "user data"


@lru_cache(maxsize=1)
def _rows() -> dict[str, dict[str, str]]:
    with open(ATTRIBUTION, newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def credit(image_id: str, source: str | None) -> str:
    """One line of credit for a val image: author, licence and package for the built-in photos."""
    if source != "sample":
        return USER_DATA
    row = _rows().get(f"images/{image_id}") or _rows().get(image_id)
    if row is None:
        return "built-in sample photo (no attribution row)"
    author = row.get("author") or "unknown author"
    return f"{author}, {row.get('licence') or 'licence unknown'} (from {row.get('source_package')})"
