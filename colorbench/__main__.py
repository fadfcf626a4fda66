"""``python -m colorbench`` is the ``colorbench`` command."""

from colorbench.cli import main

main()
