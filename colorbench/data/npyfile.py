"""A ``.npy`` file written row by row whose final row count is known only at the end.

``prepare`` decodes a selection in a stream and drops bad images, so it cannot know how many rows
each array will hold. It writes a header sized for every candidate, appends the good rows one
after the other, then rewrites the header with the real count (the header has a fixed length, so
the rows stay where they are): no second copy of a multi-gigabyte array, and the result is a
plain ``.npy`` that ``np.load(path, mmap_mode="r")`` opens.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

_MAGIC = b"\x93NUMPY\x01\x00"  # format version 1.0
_HEADER_BYTES = 128  # magic + length + dict + padding; a multiple of 64 keeps the data aligned


def _header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    body_len = _HEADER_BYTES - len(_MAGIC) - 2
    if len(text) + 1 > body_len:
        raise ValueError(f"npy header for shape {shape} does not fit in {_HEADER_BYTES} bytes")
    body = text.ljust(body_len - 1).encode("latin1") + b"\n"
    return _MAGIC + body_len.to_bytes(2, "little") + body


class RowWriter:
    """Append rows of shape ``row_shape`` to ``path``; at most ``max_rows``; :meth:`close` fixes the count."""

    def __init__(self, path: Path, row_shape: tuple[int, ...], dtype, max_rows: int):
        self.path = Path(path)
        self.row_shape = tuple(row_shape)
        self.dtype = np.dtype(dtype)
        self.max_rows = max_rows
        self.rows = 0
        # Plain sequential writes: through a memory map every new page cost a fault (~10% of
        # preparing small images).
        self._file = open(self.path, "wb")  # closed in close()
        self._file.write(_header((max_rows, *self.row_shape), self.dtype))

    @property
    def _row_bytes(self) -> int:
        return int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize

    def append(self, rows: np.ndarray) -> None:
        if tuple(rows.shape[1:]) != self.row_shape:
            raise ValueError(f"rows of shape {rows.shape[1:]} do not match {self.row_shape}")
        end = self.rows + len(rows)
        if end > self.max_rows:
            raise ValueError(f"more than the {self.max_rows} rows reserved")
        self._file.write(np.ascontiguousarray(rows, dtype=self.dtype).data)
        self.rows = end

    def close(self) -> None:
        """Write the real row count into the header, flush and fsync."""
        with self._file as f:
            f.seek(0)
            f.write(_header((self.rows, *self.row_shape), self.dtype))
            f.flush()
            os.fsync(f.fileno())
