"""FID/KID and LPIPS cost per run on the quick preset's val set (47 images at 64 px), on this CPU.

The real Inception and AlexNet weights are not on this machine (no network), so the networks
carry random weights of the real architectures: torch-fidelity's InceptionV3 (the weights file
written into a tmp TORCH_HOME, so colorbench's own fid()/kid() path runs unchanged) and LPIPS on
an untrained AlexNet with torchmetrics' packaged linear layers. The cost is the same work as
with the real weights; the values are meaningless and not printed. Also timed: the small
feature network of the tests (what the plumbing costs without Inception).

    python benchmarks/bench_fid.py [--n 47] [--size 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _best(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=47)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="bench-fid-")
    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
    from torchmetrics.functional.image.lpips import _LPIPS

    from colorbench.measures import MeasureSet, realism

    # A random-weight InceptionV3 of torch-fidelity's architecture, saved where torch looks.
    loader, tf_inception.load_state_dict_from_url = (
        tf_inception.load_state_dict_from_url,
        lambda *a, **k: None,
    )
    load = tf_inception.FeatureExtractorInceptionV3.load_state_dict
    tf_inception.FeatureExtractorInceptionV3.load_state_dict = lambda self, state: None
    net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    tf_inception.load_state_dict_from_url, tf_inception.FeatureExtractorInceptionV3.load_state_dict = (
        loader,
        load,
    )
    path = realism.INCEPTION.location()
    path.parent.mkdir(parents=True)
    torch.save(net.state_dict(), path)

    g = torch.Generator().manual_seed(0)
    real = torch.rand(args.n, 3, args.size, args.size, generator=g)
    predicted = torch.rand(args.n, 3, args.size, args.size, generator=g)
    print(f"CPU: {_cpu()}; torch threads {torch.get_num_threads()}; load average {os.getloadavg()}")
    print(f"{args.n} images at {args.size} px; seconds per run (each of {args.repeat} repeats)")

    t0 = time.perf_counter()
    realism.inception()
    print(f"inception load (once per process): {time.perf_counter() - t0:.2f}")

    def fid_kid():  # a fresh MeasureSet each time: features are not reused across repeats
        data = MeasureSet(tuple(map(str, range(args.n))), real, predicted, 0)
        realism.fid(data)
        realism.kid(data)

    print(
        "FID + KID, InceptionV3 (random weights):", ", ".join(f"{t:.2f}" for t in _best(fid_kid, args.repeat))
    )

    class Small(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            return torch.tanh(self.conv(x)).mean(dim=(2, 3))

    small = Small().eval()

    def small_fid_kid():
        data = MeasureSet(tuple(map(str, range(args.n))), real, predicted, 0)
        realism.frechet_distance(data, small)
        realism.kernel_distance(data, small)

    print("FID + KID, small test network:", ", ".join(f"{t:.3f}" for t in _best(small_fid_kid, args.repeat)))
    lp = _LPIPS(pretrained=True, net="alex", pnet_rand=True).eval()
    times = _best(
        lambda: [
            realism.lpips_distance(p, r, lp) for p, r in zip(predicted.split(16), real.split(16), strict=True)
        ],
        args.repeat,
    )
    print(
        "LPIPS over the val set (AlexNet, random weights, batches of 16):",
        ", ".join(f"{t:.2f}" for t in times),
    )


if __name__ == "__main__":
    main()
