"""The study's data handling as options: squash resize, grayscale kept, fixed order (loader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from colorbench.cli import main as cli_main
from colorbench.data import BatchLoader, DataSpec, PreparedData, cache_key, images, prepare, select
from colorbench.errors import ColorbenchError

SIZE = 16
RED, GREEN, BLUE = (220, 30, 30), (30, 200, 30), (30, 30, 220)
# cache_key(select(DataSpec(size=16))) as computed by colorbench before resize and keep_gray
# existed (commit 53ecce1). It changes only with the sample photos or FORMAT_VERSION, which are
# meant to change keys; update it then.
SAMPLE_KEY_BEFORE_OPTIONS = "644f12777f5edac6d1038422e9f2003d60776580ce9c06ff99f6fd1a0f8ca5b4"


def folder_spec(root, **kw) -> DataSpec:
    return DataSpec(source="folder", root=str(root), size=kw.pop("size", SIZE), **kw)


def prepared_ab(data: PreparedData, name: str) -> np.ndarray:
    """The (2, S, S) float32 ab of one prepared file, found by name in either split."""
    for split in ("train", "val"):
        files = data.meta[f"{split}_files"]
        if name in files:
            return np.asarray(getattr(data, f"{split}_ab")[files.index(name)], np.float32)
    raise AssertionError(f"{name} is not in the prepared data")


def write_thirds(path: Path, colours=(RED, GREEN, BLUE)) -> None:
    """A 3:1 image whose left, middle and right thirds are flat colours: a centre crop is exactly
    the middle third, a squash keeps all three."""
    rgb = np.zeros((24, 72, 3), np.uint8)
    for i, colour in enumerate(colours):
        rgb[:, 24 * i : 24 * (i + 1)] = colour
    Image.fromarray(rgb).save(path)


# --------------------------------------------------------------------------- resize
def test_squash_keeps_the_whole_image_crop_only_its_centre(tmp_path):
    root = tmp_path / "thirds"
    root.mkdir()
    write_thirds(root / "rgb.png")
    write_thirds(root / "bgr.png", (BLUE, GREEN, RED))
    cache = tmp_path / "cache"
    crop = prepare(folder_spec(root, val_fraction=0.5), cache_dir=cache, progress=False)
    squash = prepare(folder_spec(root, val_fraction=0.5, resize="squash"), cache_dir=cache, progress=False)
    assert crop.path != squash.path
    for data in (crop, squash):
        assert data.train_ab.shape == data.val_ab.shape == (1, 2, SIZE, SIZE)
    # Lab signs: red a > 0; green a < 0, b > 0; blue b < 0 (normalised by 110).
    cropped = prepared_ab(crop, "rgb.png")
    assert (cropped[0] < -0.4).all() and (cropped[1] > 0.4).all()  # green only: the sides are gone
    squashed = prepared_ab(squash, "rgb.png")
    assert (squashed[0, :, :4] > 0.4).all()  # red left quarter
    assert (squashed[0, :, 6:10] < -0.4).all() and (squashed[1, :, 6:10] > 0.4).all()  # green middle
    assert (squashed[1, :, -4:] < -0.6).all()  # blue right quarter
    assert np.allclose(prepared_ab(squash, "bgr.png"), squashed[:, :, ::-1], atol=0.02)  # mirrored file


def test_squash_is_one_bicubic_resize_of_the_whole_image(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(tmp_path / "wide.png")
    decoded = images.decode_image(tmp_path / "wide.png", SIZE, resize="squash")
    expected = Image.open(tmp_path / "wide.png").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    assert decoded.rgb.shape == (SIZE, SIZE, 3) and np.array_equal(decoded.rgb, np.asarray(expected))
    assert not decoded.upscaled and images.decode_image(tmp_path / "wide.png", 40, resize="squash").upscaled


def test_squash_uses_the_reduced_jpeg_decode(tmp_path):
    yy, xx = np.mgrid[0:256, 0:384]
    rgb = np.stack([xx % 256, yy, (xx * yy // 64) % 256], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "big.jpg", quality=90)
    decoded = images.decode_image(tmp_path / "big.jpg", SIZE, resize="squash").rgb
    with Image.open(tmp_path / "big.jpg") as reduced:
        images._draft_jpeg(reduced, SIZE)  # 256 px shorter side >= 4 x 16: decoded at 1/4 or less
        assert reduced.size != (384, 256)
        expected = np.asarray(reduced.resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    with Image.open(tmp_path / "big.jpg") as full:
        from_full = np.asarray(full.resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    assert np.array_equal(decoded, expected) and not np.array_equal(decoded, from_full)


# --------------------------------------------------------------------------- grayscale
def test_keep_gray_keeps_grayscale_images_with_zero_ab(make_image_folder, tmp_path):
    root, cases = make_image_folder(n_good=6)
    cache = tmp_path / "cache"
    skipping = prepare(folder_spec(root), cache_dir=cache, progress=False)
    keeping = prepare(folder_spec(root, keep_gray=True), cache_dir=cache, progress=False)
    gray_reasons = ("grayscale", "grayscale-rgb")
    gray_files = sorted(name for name, (_, reason) in cases.items() if reason in gray_reasons)
    assert len(gray_files) == 5
    assert skipping.meta["skipped"] == {"truncated": 1, "unreadable": 2, "grayscale": 2, "grayscale-rgb": 3}
    assert keeping.meta["skipped"] == {"truncated": 1, "unreadable": 2}  # other bad images: as before
    assert keeping.meta["used"] == skipping.meta["used"] + 5
    converted = keeping.meta["converted"]
    assert converted["grayscale-kept"] == 2 and converted["grayscale-rgb-kept"] == 3
    conversions = {c["file"]: c["conversions"] for c in keeping.meta["converted_files"]}
    colour_files = {name: kinds for name, kinds in conversions.items() if name not in gray_files}
    assert colour_files == {c["file"]: c["conversions"] for c in skipping.meta["converted_files"]}
    assert conversions["gray/gray_l.jpg"] == ["grayscale-kept"]
    assert conversions["gray/gray16.png"] == ["16-bit", "grayscale-kept"]
    assert conversions["gray/gray_rgb.png"] == ["grayscale-rgb-kept"]
    for name in gray_files:
        ab = prepared_ab(keeping, name)
        # Grey pixels have a*b* = 0 (to float16 rounding); tinted_2.png is R = G + 2: a* of ~1/110.
        assert np.abs(ab).max() < (0.02 if "tinted" in name else 2e-3), name
    used = keeping.meta["train_files"] + keeping.meta["val_files"]
    assert "gray/tinted_3.png" not in gray_files and "gray/tinted_3.png" in used


def test_kept_16_bit_gray_is_scaled_not_clipped(tmp_path):
    ramp = (np.arange(20 * 20).reshape(20, 20) * 160).astype(np.uint16)  # up to 63,840 of 65,535
    Image.fromarray(ramp).save(tmp_path / "gray16.png")
    rgb = images.decode_image(tmp_path / "gray16.png", 20, keep_gray=True).rgb
    assert rgb.max() > 200 and len(np.unique(rgb)) > 100  # clipping would leave mostly 255
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_kept_gray_with_alpha_is_composited_on_white(tmp_path):
    la = np.zeros((20, 20, 2), np.uint8)
    la[..., 0], la[..., 1] = 60, 255
    la[:, :10, 1] = 0  # transparent left half: a viewer shows white there
    Image.fromarray(la, "LA").save(tmp_path / "gray_alpha.png")
    decoded = images.decode_image(tmp_path / "gray_alpha.png", 20, keep_gray=True)
    assert decoded.conversions == ("grayscale-kept", "alpha")
    assert (decoded.rgb[:, :8] == 255).all() and (decoded.rgb[:, 12:] == 60).all()
    assert images.decode_image(tmp_path / "gray_alpha.png", 20).skip_reason == "grayscale"


# --------------------------------------------------------------------------- spec and cache key
def test_each_option_gives_its_own_cache_key_and_defaults_keep_theirs(make_image_folder):
    root, _ = make_image_folder(n_good=6, bad_cases=False)
    keys = {
        (resize, keep_gray): cache_key(select(folder_spec(root, resize=resize, keep_gray=keep_gray)))
        for resize in ("crop", "squash")
        for keep_gray in (False, True)
    }
    assert len(set(keys.values())) == 4
    assert keys[("crop", False)] == cache_key(select(folder_spec(root)))
    assert cache_key(select(DataSpec(size=SIZE))) == SAMPLE_KEY_BEFORE_OPTIONS  # old caches stay valid


def test_spec_fields_round_trip_and_validate():
    spec = DataSpec(source="folder", root="/photos", size=256, resize="squash", keep_gray=True)
    assert spec.to_dict()["resize"] == "squash" and spec.to_dict()["keep_gray"] is True
    assert DataSpec.from_dict(spec.to_dict()) == spec
    old = {k: v for k, v in DataSpec().to_dict().items() if k not in ("resize", "keep_gray")}
    assert DataSpec.from_dict(old) == DataSpec()  # meta.json of caches written before the options
    assert DataSpec.parse("folder:/photos", size=256, resize="squash", keep_gray=True) == spec
    assert spec.cli_args() == "--data folder:/photos --image-size 256 --resize squash --keep-gray"
    assert "--resize" not in DataSpec().cli_args() and "--keep-gray" not in DataSpec().cli_args()
    assert "size 256 (squashed)" in spec.describe() and "grayscale kept" in spec.describe()
    assert "size 64 (centre crop)" in DataSpec().describe() and "grayscale skipped" in DataSpec().describe()
    for kwargs, message in (
        ({"resize": "stretch"}, "--resize must be one of crop, squash, got 'stretch'"),
        ({"keep_gray": "yes"}, "keep_gray must be true or false"),
    ):
        with pytest.raises(ColorbenchError, match=message):
            DataSpec(**kwargs)


def test_cli_prepare_and_info_with_the_studys_options(make_image_folder, tmp_path):
    root, _ = make_image_folder(n_good=6)
    args = ["--source", "folder", "--root", str(root), "--size", str(SIZE)]
    args += ["--cache-dir", str(tmp_path / "c")]
    options = ["--resize", "squash", "--keep-gray"]
    runner = CliRunner()
    before = runner.invoke(cli_main, ["data", "info", *args, *options])
    assert before.exit_code == 1 and "--resize squash --keep-gray" in before.output
    prepared = runner.invoke(cli_main, ["data", "prepare", *args, *options])
    assert prepared.exit_code == 0, prepared.output
    assert f"size {SIZE} (squashed)" in prepared.output and "grayscale kept" in prepared.output
    assert "skipped:   3 (truncated 1, unreadable 2)" in prepared.output
    assert "grayscale-kept 2, grayscale-rgb-kept 3" in prepared.output
    assert runner.invoke(cli_main, ["data", "info", *args]).exit_code == 1  # the default: another cache
    assert runner.invoke(cli_main, ["data", "info", *args, *options]).exit_code == 0
    assert runner.invoke(cli_main, ["data", "prepare", *args, "--resize", "stretch"]).exit_code == 2
    assert "--resize [crop|squash]" in runner.invoke(cli_main, ["data", "prepare", "--help"]).output


# --------------------------------------------------------------------------- fixed order
def test_fixed_order_is_the_same_every_epoch_and_flips_still_vary():
    n, size = 13, 4
    cols = np.arange(size, dtype=np.float32) / 100
    l = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None] + cols, (n, 1, size, size))
    l = l.astype(np.float16)
    ab = np.concatenate([-l, -l], axis=1)

    def epoch(seed: int, number: int) -> tuple[list[int], list[bool]]:
        loader = BatchLoader(l, ab, 4, shuffle=False, seed=seed, flip=True, drop_last=True)
        loader.set_epoch(number)
        ids, flipped = [], []
        for batch_l, batch_ab in loader:
            assert torch.equal(batch_ab[:, :1], -batch_l)  # L and ab flipped together
            ids += batch_l[:, 0, 0, 0].floor().int().tolist()  # the id survives a flip
            flipped += (batch_l[:, 0, 0, 0] > batch_l[:, 0, 0, -1]).tolist()
        return ids, flipped

    epochs = [epoch(seed=5, number=e) for e in range(4)]
    assert all(ids == list(range(12)) for ids, _ in epochs)  # stored order, last partial batch dropped
    assert len({tuple(flips) for _, flips in epochs}) == 4  # flips drawn anew each epoch
    assert all(0 < sum(flips) < 12 for _, flips in epochs)
    assert epoch(seed=5, number=2) == epochs[2]  # a resumed epoch sees the same flips
    assert epoch(seed=6, number=2)[1] != epochs[2][1]
