"""Loading a colorizer from its weights file, and writing stand-in weights for the demo.

``python -m colorbench_pretrained_example.weights [DIR]`` writes seeded random weights for every
variant into DIR (default: the plugin's weights folder), so that the example runs end to end
without a download. They are not trained: replace them with your own colorizer's weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from colorbench.errors import ColorbenchError
from colorbench_pretrained_example import VARIANTS, weights_dir
from colorbench_pretrained_example.model import TinyColorizer


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def load_colorizer(path: str | Path, width: int, who: str) -> TinyColorizer:
    """The network of ``width`` with the weights of ``path``; one-line ColorbenchError if they do
    not load or do not fit (``who`` names the generator and variant in the message)."""
    try:
        # weights_only: a weights file is data; never execute code from it.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        problem = f"{type(exc).__name__}: {_first_line(exc)}"
        raise ColorbenchError(f"{who}: cannot read the weights file {path}: {problem}") from None
    model = TinyColorizer(width)
    try:
        model.load_state_dict(state)
    except Exception as exc:
        raise ColorbenchError(
            f"{who}: the weights file {path} does not fit the network: {_first_line(exc)}"
        ) from None
    return model.requires_grad_(False)  # inference only


def save_demo_weights(directory: str | Path, seed: int = 0) -> list[Path]:
    """Write seeded random weights for every variant into ``directory``; returns the files."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for cfg in VARIANTS.values():
        generator = torch.Generator().manual_seed(seed)
        model = TinyColorizer(cfg["width"])
        with torch.no_grad():
            for tensor in model.state_dict().values():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)
        torch.save(model.state_dict(), folder / cfg["file"])
        written.append(folder / cfg["file"])
    return written


if __name__ == "__main__":
    for path in save_demo_weights(sys.argv[1] if len(sys.argv) > 1 else weights_dir()):
        print(f"wrote {path}")
