"""colorbench: a benchmark and evaluation harness for automatic image colorization."""

__version__ = "0.1.0"
