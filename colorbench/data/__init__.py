"""Data sources, the prepared-data cache and the batch loader.

spec = DataSpec.parse("folder:/photos", size=64)      # or DataSpec(source="sample")
data = prepare(spec)                                   # decode once; reused by content key
train = BatchLoader(data.train_l, data.train_ab, 16, shuffle=True, seed=0, flip=True, drop_last=True)
"""

from colorbench.data.cache import FORMAT_VERSION, PreparedData, cache_key, default_cache_dir, locate, prepare
from colorbench.data.sources import Selection, select
from colorbench.data.spec import DataSpec

__all__ = [
    "FORMAT_VERSION",
    "BatchLoader",
    "DataSpec",
    "PreparedData",
    "Selection",
    "cache_key",
    "default_cache_dir",
    "locate",
    "prepare",
    "select",
]


def __getattr__(name: str):
    # The loader needs torch; importing it on first use keeps `colorbench run --help` light.
    if name == "BatchLoader":
        from colorbench.data.loader import BatchLoader

        return BatchLoader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
