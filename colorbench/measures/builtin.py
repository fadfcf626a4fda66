"""colorbench's own measures: the study's losses and the built-in val metrics, declared once.

The metrics register through the ``colorbench.metrics`` entry-point group (colorbench's own
``pyproject.toml``), exactly as a third-party metric does; the losses are computed by the
pix2pix objective (:mod:`colorbench.training.objective`) and are declared here only. This is the
one module that names them: a test checks that no other source file spells a measure's name.

Two representations, one rule (see :mod:`colorbench.metrics` for the formulas):

* L*a*b* metrics (L1, CIEDE2000, AuC) use the prediction as the model emits it: the input L with
  the predicted ab, no gamut clipping.
* sRGB metrics (PSNR, SSIM, colourfulness, |ΔCF|) use the image a viewer sees: sRGB in [0, 1]
  clipped like scikit-image.
"""

from __future__ import annotations

import torch

from colorbench import metrics as formulas
from colorbench.color import denormalize_ab
from colorbench.measures import realism
from colorbench.measures.declaration import (
    HIGHER,
    LOSS,
    LOWER,
    SET,
    ImageBatch,
    Measure,
    MeasureSet,
    SetValue,
)
from colorbench.realism.c2st import INTERVAL_LABEL as C2ST_INTERVAL

_CF_VARIANT = "Hasler-Suesstrunk 2003, signed rg/yb, population std"
_CF_UNIT = "CF (0-255 RGB)"


# --------------------------------------------------------------------------- losses (training)
def _loss(name: str, label: str, unit: str, description: str, **shown) -> Measure:
    shown.setdefault("table", False)
    return Measure(name, label, unit, LOWER, description, kind=LOSS, splits=("train", "val"), **shown)


LOSS_D_FAKE = _loss("loss_D_fake", "Loss D fake", "BCE", "D's GAN loss on generated pairs")
LOSS_D_REAL = _loss("loss_D_real", "Loss D real", "BCE", "D's GAN loss on real pairs")
LOSS_D = _loss("loss_D", "Loss D", "BCE", "0.5 (Loss D fake + Loss D real)", curve=2)
# The study reports G's three losses: they are the table's loss columns and the analysis' losses.
LOSS_G_GAN = _loss(
    "loss_G_GAN", "Loss G GAN", "BCE", "G's GAN loss (D fooled)", table=True, tex_default=False, curve=1
)
LOSS_G_L1 = _loss(
    "loss_G_L1",
    "Loss G L1",
    "100 x L1 (ab/110)",
    "lambda_L1 x mean |ab_pred - ab_true|",
    table=True,
    tex_default=False,
    curve=3,
)
LOSS_G = _loss(
    "loss_G", "Loss G", "BCE + 100 x L1", "Loss G GAN + Loss G L1", table=True, default_verdict=True
)

LOSSES: tuple[Measure, ...] = (LOSS_D_FAKE, LOSS_D_REAL, LOSS_D, LOSS_G_GAN, LOSS_G_L1, LOSS_G)


# --------------------------------------------------------------------------- val metrics, per image
def _colorfulness_pred(batch: ImageBatch) -> torch.Tensor:
    return batch.shared("colorfulness_pred", lambda: formulas.colorfulness(batch.rgb_pred))


def _colorfulness_true(batch: ImageBatch) -> torch.Tensor:
    return batch.shared("colorfulness_true", lambda: formulas.colorfulness(batch.rgb_true))


L1_AB = Measure(
    "l1_ab",
    "L1",
    "normalised ab",
    LOWER,
    "mean |ab_pred - ab_true|",
    variant="ab / 110, mean over pixels and both channels",
    compute=lambda b: formulas.l1_ab(b.ab_pred, b.ab_true),
    forest=True,
    console=True,
    log=2,
)
PSNR = Measure(
    "psnr",
    "PSNR",
    "dB",
    HIGHER,
    "PSNR of the sRGB image",
    variant=f"sRGB in [0, 1], data_range 1, per image, capped at {formulas.PSNR_CAP_DB:g} dB",
    compute=lambda b: formulas.psnr(b.rgb_pred, b.rgb_true),
    forest=True,
    console=True,
)
SSIM = Measure(
    "ssim",
    "SSIM",
    "1",
    HIGHER,
    "SSIM of the sRGB image",
    variant="gaussian 11x11 sigma 1.5, data_range 1, mean over RGB and the valid region",
    compute=lambda b: formulas.ssim(b.rgb_pred, b.rgb_true),
    console=True,
)
CIEDE2000 = Measure(
    "ciede2000",
    "CIEDE2000",
    "CIE dE00",
    LOWER,
    "mean CIEDE2000 over pixels",
    variant="kL = kC = kH = 1, predicted L*a*b* without gamut clipping",
    short="ΔE00",
    caption_format=".1f",
    compute=lambda b: formulas.ciede2000(b.lab_pred, b.lab_true).flatten(1).mean(dim=1),
    forest=True,
    console=True,
    log=1,
    default_verdict=True,
)
COLORFULNESS_PRED = Measure(
    "colorfulness_pred",
    "CF",
    _CF_UNIT,
    HIGHER,
    "colorfulness of the prediction",
    variant=_CF_VARIANT,
    # Not a score: a more colourful prediction is not better by itself (He init's noise is the most
    # colourful); |CF(pred) - CF(true)| is what compares with the truth.
    ranked=False,
    compute=_colorfulness_pred,
    forest=True,
)
COLORFULNESS_TRUE = Measure(
    "colorfulness_true",
    "CF truth",
    _CF_UNIT,
    HIGHER,
    "colorfulness of the ground truth",
    variant=_CF_VARIANT,
    ranked=False,
    compute=_colorfulness_true,
    table=False,  # the same for every setting: the table's caption states it
    tex_default=False,
    truth_reference=True,
)
DCF = Measure(
    "dcf",
    "|ΔCF|",
    _CF_UNIT,
    LOWER,
    "|CF(pred) - CF(true)| per image",
    variant=_CF_VARIANT,
    tex=r"$|\Delta\mathrm{CF}|$",
    # Gray's |ΔCF| is the truth's own colourfulness: beating gray here means being colourful at all.
    gray_degenerate=True,
    compute=lambda b: (_colorfulness_pred(b) - _colorfulness_true(b)).abs(),
    tex_default=False,
    console=True,
)
AUC = Measure(
    "auc",
    "AuC",
    "1",
    HIGHER,
    "AuC of the share of pixels with a*b* L2 error <= t",
    variant="Zhang et al. 2016, mean over integer t = 0..150 (151 thresholds), in [0, 1]",
    compute=lambda b: formulas.auc(denormalize_ab(b.ab_pred), denormalize_ab(b.ab_true)),
    console=True,
)


# --------------------------------------------------------------------------- realism, per set
# The classifier two-sample test (docs/realism.md): one test per run gives three readings. They are
# three declarations (each its own column, direction and verdict), computed once per val set.
_C2ST_VARIANT = (
    f"colour-given-L critic, 5 folds by photo, {C2ST_INTERVAL} interval from a bootstrap over photos "
    "that refits the critic"
)
_c2st_last: list = []  # (the MeasureSet, its result): the three readings share one test


def _c2st_result(data: MeasureSet):
    if not _c2st_last or _c2st_last[0] is not data:
        from colorbench.realism import c2st

        folds = max(2, min(5, len(data.image_ids) // 2))  # c2st needs 2 photos per fold
        real, predicted = (x.permute(0, 2, 3, 1).numpy() for x in (data.real, data.predicted))
        _c2st_last[:] = [data, c2st(real, predicted, folds=folds, seed=data.seed)]
    return _c2st_last[1]


def _c2st_reading(field: str):
    def compute(data: MeasureSet) -> SetValue:
        result = _c2st_result(data)
        low, high = getattr(result, f"{field}_interval")
        return SetValue(getattr(result, field), low, high, n=result.n_photos, cost_s=result.wall_time_s)

    return compute


def _c2st(name: str, label: str, unit: str, direction: str, description: str, **shown) -> Measure:
    return Measure(
        name, label, unit, direction, description, scope=SET, variant=_C2ST_VARIANT, interval=C2ST_INTERVAL,
        compute=_c2st_reading(name.removeprefix("c2st_")), **shown,
    )  # fmt: skip


C2ST_ACCURACY = _c2st(
    "c2st_accuracy", "C2ST acc", "share of held-out decisions", LOWER,
    "held-out accuracy of a critic telling real val photos from the run's; 0.5 = indistinguishable",
    tex_default=False,  # the LaTeX table fits a page; the realism paragraph shows it
)  # fmt: skip
C2ST_AUC = _c2st(
    "c2st_auc", "C2ST AUC", "AUC", LOWER,
    "held-out ROC AUC of the critic's P(real); 0.5 = indistinguishable", tex_default=False,
    table=False,  # the realism block shows it with its interval; the table keeps to a screen's width
)  # fmt: skip
C2ST_CROSS_ENTROPY = _c2st(
    "c2st_cross_entropy", "C2ST CE", "nats", HIGHER,
    "held-out log loss of the critic; ln 2 = 0.693 at chance, lower = told apart", tex_default=False,
    table=False,  # the realism block shows it with its interval; the table keeps to a screen's width
)  # fmt: skip
C2ST: tuple[Measure, ...] = (C2ST_ACCURACY, C2ST_AUC, C2ST_CROSS_ENTROPY)

# --------------------------------------------------------------------------- realism (weights files)
# FID/KID per set, LPIPS per image; each needs weights files that may be missing (then: "not
# computed", and which file). Computation and file locations: colorbench/measures/realism.py.
_REFERENCE_SET = (
    "reference set: the val split's ground-truth colour images at the run's image size, "
    "upsampled to 299 px by the Inception preprocessing"
)
FID = Measure(
    "fid",
    "FID",
    "1",
    LOWER,
    "Fréchet Inception distance of the colorized val set to the ground-truth val set",
    variant=f"torchmetrics on torch-fidelity's InceptionV3 pool3 (2048), {_REFERENCE_SET}",
    scope=SET,
    needs=realism.fid_needs(),
    compute=realism.fid,
    tex_default=False,  # kept out of the paper table by default: its width
    table=False,  # in the realism block, with N and its interval
    report_note=(
        "FID is computed over N = {n} val images per run; below "
        f"{realism.FID_COMPARABLE_N:,} images FID is biased upward and not comparable to published "
        f"tables (compare settings within this study only); {_REFERENCE_SET}."
    ),
)
KID = Measure(
    "kid",
    "KID",
    "1",
    LOWER,
    "kernel Inception distance (unbiased MMD², cubic kernel) to the ground-truth val set",
    variant=f"torchmetrics, {realism.KID_SUBSETS} subsets of min({realism.KID_SUBSET_SIZE}, N) "
    f"drawn from the run's seed, std over subsets; {_REFERENCE_SET}",
    scope=SET,
    needs=realism.fid_needs(),
    compute=realism.kid,
    tex_default=False,  # kept out of the paper table by default: its width
    table=False,  # in the realism block, with N and its interval
    caption_format=".2g",
)
LPIPS = Measure(
    "lpips",
    "LPIPS",
    "1",
    LOWER,
    "learned perceptual distance of each prediction to its ground truth",
    variant="torchmetrics LPIPS v0.1, AlexNet backbone, its packaged linear layers, sRGB in [0, 1]",
    needs=realism.lpips_needs(),
    compute=realism.lpips,
    tex_default=False,  # kept out of the paper table by default: its width
)
WEIGHTED_REALISM: tuple[Measure, ...] = (FID, KID, LPIPS)


# The order of every table, CSV and per-image file (colorbench's built-ins first, then plugins).
METRICS: tuple[Measure, ...] = (
    L1_AB,
    PSNR,
    SSIM,
    CIEDE2000,
    COLORFULNESS_PRED,
    COLORFULNESS_TRUE,
    DCF,
    AUC,
    *C2ST,
    *WEIGHTED_REALISM,
)
