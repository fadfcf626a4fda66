"""colorbench: a benchmark and evaluation harness for automatic image colorization."""

import os

# torch's OpenMP runtime (GNU libgomp) spin-waits between parallel regions by default. With the
# cores shared (other jobs, a second worker) a spinning thread and a preempted one wait on each
# other at every barrier: a 16-image batch took 2 ms instead of 30 us and training ran at half
# speed; on an idle machine sleeping costs nothing measurable (benchmarks/RESULTS.md). libgomp
# reads this once, when torch is first imported, so it is set here, before any colorbench module
# imports torch, unless the user chose a policy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
