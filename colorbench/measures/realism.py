"""FID, KID (per set) and LPIPS (per image) through torchmetrics, and the weights files they need.

FID and KID run on torch-fidelity's InceptionV3 ("inception-v3-compat", the TF-FID port that
torchmetrics uses); LPIPS on torchmetrics' packaged linear layers over torchvision's AlexNet.
Where the files are is where those libraries look: ``torch.hub.load_state_dict_from_url`` puts
both downloads in ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``, default
``~/.cache/torch/hub/checkpoints``); the LPIPS linear layers ship inside torchmetrics. A missing
file is downloaded at first use where a network exists (unless ``COLORBENCH_NO_DOWNLOAD`` is
set); where it cannot be had, the metric is "not computed" with the file and where to put it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from colorbench.measures.declaration import ImageBatch, MeasureSet, Need, SetValue

NO_DOWNLOAD_ENV = "COLORBENCH_NO_DOWNLOAD"  # set (tests, air-gapped labs): never try the network
FID_COMPARABLE_N = 2000  # below this FID is biased upward: not comparable to published tables
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # torchmetrics' defaults (subset size capped at N)
FEATURE_BATCH = 64


@dataclass(frozen=True)
class WeightsFile:
    """One file a metric needs: its name, where it is looked for, and where it comes from."""

    filename: str
    what: str
    url: str = ""  # "" for a file that ships inside a package
    package: str = ""  # the package it ships in, or "" for a hub-cache download

    def location(self) -> Path:
        """Where the owning library looks for it now (reads TORCH_HOME / torch.hub.set_dir)."""
        if self.package:
            spec = importlib.util.find_spec(self.package)
            root = (
                Path(spec.origin).parent if spec and spec.origin else Path(f"<{self.package} not installed>")
            )
            return root / self.filename
        return Path(torch.hub.get_dir()) / "checkpoints" / self.filename

    def problem(self) -> str | None:
        """None when the file is there (after a download where allowed), else what to do."""
        path = self.location()
        if path.is_file():
            return None
        if self.package:
            return f"{self.what} {path} is missing: reinstall {self.package}"
        tried = _download(self.url, str(path))
        return (
            f"weights file {self.filename} ({self.what}) is missing: put it at {path} "
            f"(from {self.url}; TORCH_HOME moves the cache){tried}"
        )


@functools.cache  # one try per file and process: a failed download is not retried every batch
def _download(url: str, path: str) -> str:
    if os.environ.get(NO_DOWNLOAD_ENV):
        return f"; not downloaded: {NO_DOWNLOAD_ENV} is set"
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, path, progress=False)
    except Exception as exc:  # offline, proxy, disk: the metric is not computed, the run goes on
        return f"; download failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return "" if Path(path).is_file() else "; download left no file"


INCEPTION = WeightsFile(
    "weights-inception-2015-12-05-6726825d.pth",
    "torch-fidelity's InceptionV3 for FID/KID",
    url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth",
)
ALEXNET = WeightsFile(
    "alexnet-owt-7be5be79.pth",
    "torchvision's AlexNet, the LPIPS backbone",
    url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
)
LPIPS_LINEAR = WeightsFile(
    "functional/image/lpips_models/alex.pth", "torchmetrics' LPIPS linear layers", package="torchmetrics"
)


def _package_need(module: str, extra: str) -> Need:
    def check() -> str | None:
        if importlib.util.find_spec(module) is None:
            return f"package {module} is not installed: pip install 'colorbench[{extra}]'"
        return None

    return Need("package", module, check)


def weights_need(file: WeightsFile) -> Need:
    return Need("weights", f"{file.filename} ({file.what})", file.problem, path=file.location())


def fid_needs() -> tuple[Need, ...]:
    return (_package_need("torch_fidelity", "realism"), weights_need(INCEPTION))


def lpips_needs() -> tuple[Need, ...]:
    return (weights_need(LPIPS_LINEAR), weights_need(ALEXNET))


# --------------------------------------------------------------------------- feature statistics
class _Features(nn.Identity):
    """Features already extracted: torchmetrics does only the statistics on them."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features


class _InceptionOnUnitFloats(nn.Module):
    """torch-fidelity's InceptionV3 fed as torchmetrics' ``normalize=True`` feeds it (uint8, any
    size: it resizes to 299 x 299 itself, bilinearly, as TF-FID does)."""

    num_features = 2048

    def __init__(self, path: Path) -> None:
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(path))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net((images * 255).byte())


@functools.cache
def inception() -> nn.Module:
    return _InceptionOnUnitFloats(INCEPTION.location()).eval()


@torch.no_grad()
def features(extractor: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(N, F) float64 features of (N, 3, H, W) images, in batches."""
    return torch.cat([extractor(part).double() for part in images.split(FEATURE_BATCH)])


# One set's features, kept while FID and KID of the same MeasureSet are computed one after the other.
_last: dict[str, object] = {}


def _set_features(data: MeasureSet, extractor: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    if _last.get("data") is not data or _last.get("extractor") is not extractor:
        _last.clear()
        _last.update(data=data, extractor=extractor, real=features(extractor, data.real),
                     predicted=features(extractor, data.predicted))  # fmt: skip
    return _last["real"], _last["predicted"]  # type: ignore[return-value]


def frechet_distance(data: MeasureSet, extractor: nn.Module) -> SetValue:
    """FID between the real and the colorized set on ``extractor``'s features (torchmetrics)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, predicted = _set_features(data, extractor)
    metric = FrechetInceptionDistance(feature=_Features(real.shape[1]))
    metric.update(real, real=True)
    metric.update(predicted, real=False)
    return SetValue(float(metric.compute()), n=int(real.shape[0]))


def kernel_distance(data: MeasureSet, extractor: nn.Module) -> SetValue:
    """Unbiased KID (torchmetrics), its std over subsets as the uncertainty; subsets drawn from the seed."""
    from torchmetrics.image.kid import KernelInceptionDistance

    real, predicted = _set_features(data, extractor)
    n = int(min(real.shape[0], predicted.shape[0]))
    with warnings.catch_warnings():  # "will save all extracted features": they are already in memory
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(
            feature=_Features(real.shape[1]), subsets=KID_SUBSETS, subset_size=min(KID_SUBSET_SIZE, n)
        )
    metric.update(real, real=True)
    metric.update(predicted, real=False)
    with torch.random.fork_rng(devices=[]):  # the subsets come from the run's seed, not global state
        torch.manual_seed(data.seed)
        mean, std = metric.compute()
    return SetValue(float(mean), std=float(std), n=n)


def fid(data: MeasureSet) -> SetValue:
    return frechet_distance(data, inception())


def kid(data: MeasureSet) -> SetValue:
    return kernel_distance(data, inception())


# --------------------------------------------------------------------------- LPIPS
@functools.cache
def lpips_network() -> nn.Module:
    """torchmetrics' LPIPS (AlexNet, its packaged linear layers); the backbone comes from the hub cache."""
    from torchmetrics.functional.image.lpips import _LPIPS

    problem = ALEXNET.problem()  # checked here too: torchvision would otherwise download on its own
    if problem:
        raise FileNotFoundError(problem)
    return _LPIPS(pretrained=True, net="alex").eval()


@torch.no_grad()
def lpips_distance(predicted: torch.Tensor, real: torch.Tensor, network: nn.Module) -> torch.Tensor:
    """(N,) LPIPS of sRGB images in [0, 1], one value per image pair."""
    network = network.to(predicted.device)
    return network(predicted.float(), real.float(), normalize=True).flatten().float()


def lpips(batch: ImageBatch) -> torch.Tensor:
    return lpips_distance(batch.rgb_pred, batch.rgb_true, lpips_network())
