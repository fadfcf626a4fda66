"""Locating pretrained encoder weights in the local caches only. Nothing here downloads."""

from __future__ import annotations

import os
from pathlib import Path

# The file names timm asks the Hugging Face hub for, safest first.
HF_FILENAMES = ("model.safetensors", "pytorch_model.bin")


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, honouring HF_HUB_CACHE / HF_HOME as set now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def _torch_hub_checkpoints() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def find_local_weights(encoder: str) -> str | None:
    """Path of a cached weight file for timm model ``encoder``'s default pretrained tag, or None."""
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(encoder)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        repo_id, _, revision = cfg.hf_hub_id.partition("@")
        names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else HF_FILENAMES
        for filename in names:
            found = try_to_load_from_cache(
                repo_id, filename, cache_dir=hf_cache_dir(), revision=revision or None
            )
            if isinstance(found, str):
                return found
    if cfg.url:  # timm's older torch-hub cache
        candidate = _torch_hub_checkpoints() / cfg.url.rsplit("/", 1)[-1]
        if candidate.is_file():
            return str(candidate)
    return None


def missing_weights_reason(encoder: str) -> str | None:
    """None if weights for ``encoder`` are cached, else one sentence saying what to do."""
    if find_local_weights(encoder) is not None:
        return None
    return (
        f"pretrained {encoder} weights were requested (COLORBENCH_TIMM_UNET_PRETRAINED) but are not in "
        f"the local caches ({hf_cache_dir()} or {_torch_hub_checkpoints()}) and colorbench never downloads: "
        "copy them there or unset the variable to train from random weights"
    )
