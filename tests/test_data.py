"""Data sources, bad images, the prepared cache (key, reuse, atomicity, lock), the CLI and the loader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image, ImageFile

from colorbench.cli import main as cli_main
from colorbench.data import (
    BatchLoader,
    DataSpec,
    PreparedData,
    cache_key,
    images,
    prepare,
    prepare_build,
    select,
    sources,
)
from colorbench.data.sources import SAMPLE_IMAGES_DIR, seeded_split
from colorbench.errors import ColorbenchError

SIZE = 16  # prepared side in px: tiny, so every prepare here takes well under a second


def folder_spec(root, **kw) -> DataSpec:
    return DataSpec(source="folder", root=str(root), size=kw.pop("size", SIZE), **kw)


def coco_spec(images_dir, annotations, **kw) -> DataSpec:
    return DataSpec(
        source="coco", root=str(images_dir), annotations=str(annotations), size=kw.pop("size", SIZE), **kw
    )


def expected_counts(cases, selected_names):
    skipped, converted = Counter(), Counter()
    for name in selected_names:
        outcome, reason = cases.get(name, ("kept", None))
        if outcome == "skipped":
            skipped[reason] += 1
        elif outcome == "converted":
            converted[reason] += 1
    return dict(skipped), dict(converted)


def check_bad_image_report(data: PreparedData, cases: dict, n_found: int) -> None:
    meta = data.meta
    assert meta["found"] == n_found
    selected = meta["train_files"] + meta["val_files"] + [s["file"] for s in meta["skipped_files"]]
    assert sorted(selected) == sorted(set(selected)) and len(selected) == meta["selected"] == n_found
    skipped, converted = expected_counts(cases, selected)
    assert meta["skipped"] == skipped
    assert meta["converted"] == converted
    assert meta["used"] == meta["train"] + meta["val"] == n_found - sum(skipped.values())
    for entry in meta["skipped_files"]:
        assert cases[entry["file"]] == ("skipped", entry["reason"]), entry
        assert entry["detail"]
    for entry in meta["converted_files"]:
        assert entry["conversions"] == [cases[entry["file"]][1]], entry
    # Nothing skipped is in the arrays, and the arrays match the file lists.
    assert data.train_l.shape == (meta["train"], 1, SIZE, SIZE) and data.train_ab.shape == (
        meta["train"],
        2,
        SIZE,
        SIZE,
    )
    assert data.val_l.shape == (meta["val"], 1, SIZE, SIZE) and data.val_ab.shape == (
        meta["val"],
        2,
        SIZE,
        SIZE,
    )
    for array in (data.train_l, data.train_ab, data.val_l, data.val_ab):
        assert array.dtype == np.float16 and isinstance(array, np.memmap)
        assert np.isfinite(array).all() and np.abs(array).max() <= 1.0


def prepared_image(data: PreparedData, name: str) -> tuple[np.ndarray, np.ndarray]:
    for split in ("train", "val"):
        files = data.meta[f"{split}_files"]
        if name in files:
            i = files.index(name)
            return np.asarray(getattr(data, f"{split}_l")[i], np.float32), np.asarray(
                getattr(data, f"{split}_ab")[i], np.float32
            )
    raise AssertionError(f"{name} is not in the prepared data")


# --------------------------------------------------------------------------- bad images
def test_folder_every_bad_image_case_is_counted(make_image_folder, tmp_path):
    root, cases = make_image_folder(n_good=12)
    data = prepare(folder_spec(root, val_fraction=0.5), cache_dir=tmp_path / "cache", progress=False)
    check_bad_image_report(data, cases, n_found=12 + len(cases))  # notes.txt not listed, good_000.JPG is
    assert "b/c/good_000.JPG" in data.meta["train_files"] + data.meta["val_files"]
    assert data.meta["upscaled"] == 0


def test_coco_every_bad_image_case_is_counted(make_coco_set, tmp_path):
    images_dir, annotations, cases, _ = make_coco_set(n_good=12)
    data = prepare(
        coco_spec(images_dir, annotations, val_fraction=0.5), cache_dir=tmp_path / "cache", progress=False
    )
    check_bad_image_report(data, cases, n_found=12 + len(cases))
    assert data.meta["skipped"]["missing"] == 1


def test_exif_rotation_is_applied(make_image_folder, tmp_path):
    root, _ = make_image_folder(n_good=4)
    data = prepare(folder_spec(root, val_fraction=0.5), cache_dir=tmp_path / "cache", progress=False)
    _, ab = prepared_image(data, "convert/exif_rotated.jpg")
    b = ab[1]
    half = SIZE // 2
    # Upright the photo is red on top (b* > 0), blue at the bottom (b* < 0); stored it is
    # red-left/blue-right, which would give b* changing sign across the columns instead.
    assert b[: half - 1].min() > 0.2 and b[half + 1 :].max() < -0.3


def test_alpha_is_composited_on_white(make_image_folder, tmp_path):
    root, _ = make_image_folder(n_good=4)
    data = prepare(folder_spec(root, val_fraction=0.5), cache_dir=tmp_path / "cache", progress=False)
    l, ab = prepared_image(data, "convert/rgba.png")
    transparent = (slice(None), slice(0, SIZE // 2 - 2))  # left half was transparent black
    assert (l[0][transparent] > 0.99).all() and np.abs(ab[:, :, 0 : SIZE // 2 - 2]).max() < 0.01


def test_prepared_values_are_normalised_lab_of_the_decoded_image(make_image_folder, tmp_path, monkeypatch):
    from skimage.color import rgb2lab

    # Bad files between good ones, and chunks of a few images per worker job: every row must
    # still be the image its name says.
    monkeypatch.setattr(prepare_build, "CHUNK_PIXELS", 3 * SIZE * SIZE)
    root, _ = make_image_folder(n_good=10, bad_cases=True)
    data = prepare(folder_spec(root), cache_dir=tmp_path / "cache", progress=False)
    names = data.meta["train_files"] + data.meta["val_files"]
    assert len(names) >= 10  # the good ones and the converted bad cases
    for name in names:
        l, ab = prepared_image(data, name)
        lab = rgb2lab(images.decode_image(root / name, SIZE).rgb)
        np.testing.assert_allclose(l[0], lab[..., 0] / 50 - 1, atol=2e-3)
        np.testing.assert_allclose(ab, np.moveaxis(lab[..., 1:], -1, 0) / 110, atol=2e-3)


def test_truncated_file_is_skipped_even_if_pil_allows_truncated(make_image_folder, monkeypatch):
    root, _ = make_image_folder(n_good=0)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with images.strict_pil():
        decoded = images.decode_image(root / "bad/truncated.jpg", SIZE)
    assert decoded.skip_reason == "truncated"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_decode_output_is_square_bicubic_centre_crop(tmp_path):
    rgb = np.zeros((30, 90, 3), np.uint8)
    rgb[:, 30:60] = (200, 20, 20)  # only the centre third is red
    Image.fromarray(rgb).save(tmp_path / "wide.png")
    decoded = images.decode_image(tmp_path / "wide.png", 10)
    assert decoded.rgb.shape == (10, 10, 3) and decoded.rgb.dtype == np.uint8
    assert (decoded.rgb[2:-2, 2:-2] == (200, 20, 20)).all()  # the crop is the centred square
    small = images.decode_image(tmp_path / "wide.png", 64)
    assert small.upscaled and small.rgb.shape == (64, 64, 3)


# --------------------------------------------------------------------------- sources
def test_coco_category_filter_is_a_union(make_coco_set):
    images_dir, annotations, _, cats = make_coco_set(n_good=12, bad_cases=False)
    for wanted in (("dog",), ("cat",), ("cat", "dog"), ("person",)):
        selection = select(coco_spec(images_dir, annotations, categories=wanted))
        names = sorted(e.name for e in selection.train + selection.val)
        assert names == sorted(n for n, c in cats.items() if c & set(wanted))
        assert selection.found == len(names)
    assert DataSpec(source="coco", root="x", annotations="y", categories="dog, cat,dog").categories == (
        "cat",
        "dog",
    )


def test_coco_unknown_category_lists_valid_ones(make_coco_set):
    images_dir, annotations, _, _ = make_coco_set(n_good=4, bad_cases=False)
    with pytest.raises(
        ColorbenchError, match=r"unknown COCO category unicorn .*valid names include: cat, dog, person"
    ):
        select(coco_spec(images_dir, annotations, categories=("dog", "unicorn")))


def test_coco_listing_is_remembered_until_the_annotation_file_changes(make_coco_set, tmp_path, monkeypatch):
    images_dir, annotations, _, _ = make_coco_set(n_good=6, bad_cases=False)
    spec = coco_spec(images_dir, annotations)
    first = prepare(spec, cache_dir=tmp_path / "cache", progress=False)

    def no_loading(*args, **kwargs):
        raise AssertionError("loaded the annotation file again")

    monkeypatch.setattr(sources, "list_coco", no_loading)
    assert prepare(spec, cache_dir=tmp_path / "cache", progress=False).reused
    stat = annotations.stat()
    os.utime(annotations, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(AssertionError, match="loaded the annotation file again"):
        prepare(spec, cache_dir=tmp_path / "cache", progress=False)
    assert first.meta["found"] == 6


def test_folder_listing_extensions(tmp_path):
    for name in ("a.jpg", "b.JPEG", "c/d.png", "e.webp", "f.BMP", "g.tif", "h.Tiff", "i.gif", "j.txt", "k"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert sources.list_folder(tmp_path) == [
        "a.jpg",
        "b.JPEG",
        "c/d.png",
        "e.webp",
        "f.BMP",
        "g.tif",
        "h.Tiff",
    ]


def test_coco_limit_choice(make_coco_set):
    images_dir, annotations, _, _ = make_coco_set(n_good=12, bad_cases=False)
    selection = select(coco_spec(images_dir, annotations, limit=5))
    assert (len(selection.train), len(selection.val), selection.found) == (4, 1, 12)
    more = select(coco_spec(images_dir, annotations, limit=50))
    assert more.selected == 12 and "more than the 12 images found" in more.notes[0]


def test_seeded_split_reproduces_the_public_recipe():
    paths = np.array([f"{i:012d}.jpg" for i in range(12_000)])
    np.random.seed(123)
    paths_subset = np.random.choice(paths, 10_000, replace=False)
    rand_idxs = np.random.permutation(10_000)
    train_idx, val_idx = seeded_split(len(paths), 10_000, 0.2, 123)
    assert (len(train_idx), len(val_idx)) == (8_000, 2_000)
    assert (paths[train_idx] == paths_subset[rand_idxs[:8000]]).all()
    assert (paths[val_idx] == paths_subset[rand_idxs[8000:]]).all()


def test_split_is_stable_across_runs_and_processes(make_image_folder):
    root, _ = make_image_folder(n_good=20, bad_cases=False)
    spec = folder_spec(root, limit=15, seed=7)
    first, second = select(spec), select(spec)
    names = [[e.name for e in s.train] + ["|"] + [e.name for e in s.val] for s in (first, second)]
    assert names[0] == names[1]
    assert not {e.name for e in first.train} & {e.name for e in first.val}
    code = (
        "import json, sys; from colorbench.data import DataSpec, select;"
        f"s = select(DataSpec(source='folder', root={str(root)!r}, size={SIZE}, limit=15, seed=7));"
        "print(json.dumps([e.name for e in s.train] + ['|'] + [e.name for e in s.val]))"
    )
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == names[0]
    assert [e.name for e in select(folder_spec(root, limit=15, seed=8)).train] != names[0][:12]


def test_data_spec_parse_forms():
    assert DataSpec.parse("sample") == DataSpec()
    assert DataSpec.parse("folder:/x/y", size=32, limit=None) == DataSpec(
        source="folder", root="/x/y", size=32
    )
    coco = DataSpec.parse("coco:/data/train2017:/data/ann.json", categories="dog")
    assert (coco.root, coco.annotations, coco.categories) == ("/data/train2017", "/data/ann.json", ("dog",))
    for bad in ("imagenet", "folder", "folder:", "coco:/only/images", "sample:/x"):
        with pytest.raises(ColorbenchError, match="cannot read data spec"):
            DataSpec.parse(bad)
    for kwargs, message in (
        ({"source": "sample", "root": "/x"}, "takes no --root"),
        ({"source": "folder"}, "needs --root"),
        ({"source": "coco", "root": "/x"}, "needs --annotations"),
        ({"size": 4}, "--image-size"),
        ({"val_fraction": 1.0}, "--val-fraction"),
        ({"limit": 1}, "--limit"),
        ({"source": "nope"}, "unknown data source"),
    ):
        with pytest.raises(ColorbenchError, match=message):
            DataSpec(**kwargs)


# --------------------------------------------------------------------------- user errors
def test_user_errors_are_colorbench_errors(make_image_folder, make_coco_set, tmp_path):
    root, _ = make_image_folder(n_good=3, bad_cases=False)
    images_dir, annotations, _, _ = make_coco_set(n_good=3, bad_cases=False)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    list_json = tmp_path / "list.json"
    list_json.write_text("[1, 2]")
    no_images = tmp_path / "no_images.json"
    no_images.write_text(json.dumps({"annotations": [], "categories": []}))
    one = tmp_path / "one"
    one.mkdir()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(one / "x.png")
    cache = tmp_path / "cache"
    cases = [
        (folder_spec(tmp_path / "nowhere"), "does not exist"),
        (folder_spec(root / "a" / "good_001.jpg"), "is not a directory"),
        (coco_spec(tmp_path / "nowhere", annotations), "COCO image folder .* does not exist"),
        (coco_spec(images_dir, tmp_path / "none.json"), "annotation file .* does not exist"),
        (coco_spec(images_dir, bad_json), "is not valid JSON"),
        (coco_spec(images_dir, list_json), "is not a COCO instances file"),
        (coco_spec(images_dir, no_images), "is not a COCO instances file"),
        (folder_spec(one), "found 1 image under .*need at least 2"),
        (folder_spec(root, val_fraction=0.1), "give 3 train and 0 val"),
    ]
    for spec, message in cases:
        with pytest.raises(ColorbenchError, match=message):
            prepare(spec, cache_dir=cache, progress=False)


def test_too_few_usable_images_after_skipping(tmp_path):
    root = tmp_path / "mostly_bad"
    root.mkdir()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(root / "red.png")
    Image.new("L", (8, 8), 90).save(root / "gray.png")
    (root / "junk.jpg").write_bytes(b"nope")
    with pytest.raises(ColorbenchError, match=r"1 are usable \(skipped: unreadable 1, grayscale 1\)"):
        prepare(folder_spec(root, val_fraction=0.4), cache_dir=tmp_path / "cache", progress=False)
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []  # the failed preparation left nothing behind


def test_cli_errors_are_one_line_exit_2(make_coco_set, tmp_path):
    images_dir, annotations, _, _ = make_coco_set(n_good=3, bad_cases=False)
    runner = CliRunner()
    for args in (
        ["--data", f"folder:{tmp_path / 'nowhere'}"],
        ["--data", f"coco:{images_dir}:{tmp_path / 'none.json'}"],
        ["--data", f"coco:{images_dir}:{annotations}", "--categories", "yeti"],
        ["--data", "imagenet"],
        ["--image-size", "2"],
    ):
        for command in ("prepare", "info"):
            result = runner.invoke(cli_main, ["data", command, *args, "--cache-dir", str(tmp_path / "c")])
            assert result.exit_code == 2, (args, result.output)
            lines = result.output.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), result.output
            assert "Traceback" not in result.output


def test_cli_prepare_and_info(make_image_folder, tmp_path):
    root, cases = make_image_folder(n_good=12)
    args = ["--data", f"folder:{root}", "--image-size", str(SIZE), "--cache-dir", str(tmp_path / "c")]
    runner = CliRunner()
    before = runner.invoke(cli_main, ["data", "info", *args])
    assert (
        before.exit_code == 1
        and "not prepared yet" in before.output
        and "colorbench data prepare" in before.output
    )
    prepared = runner.invoke(cli_main, ["data", "prepare", *args])
    assert prepared.exit_code == 0, prepared.output
    info = runner.invoke(cli_main, ["data", "info", "-v", *args])
    assert info.exit_code == 0, info.output
    assert f"found:     {12 + len(cases)} images" in info.output
    assert "skipped:   8 (truncated 1, unreadable 2, grayscale 2, grayscale-rgb 3)" in info.output
    assert "converted: 5 (exif-rotated 1, 16-bit 1, palette 1, cmyk 1, alpha 1)" in info.output
    assert "bad/truncated.jpg: truncated" in info.output and str(tmp_path / "c") in info.output
    assert "reused" in runner.invoke(cli_main, ["data", "prepare", *args]).output


# --------------------------------------------------------------------------- cache key and reuse
def test_cache_key_changes_with_content_and_only_then(make_image_folder, make_coco_set):
    root, _ = make_image_folder(n_good=10, bad_cases=False)
    base = folder_spec(root, limit=8)
    key = cache_key(select(base))
    assert cache_key(select(base)) == key
    assert cache_key(select(DataSpec.parse(f"folder:{root}/", size=SIZE, limit=8))) == key  # same folder
    for changed in (
        folder_spec(root, limit=7),
        folder_spec(root, limit=8, size=SIZE * 2),
        folder_spec(root, limit=8, seed=124),
        folder_spec(root, limit=8, val_fraction=0.3),
    ):
        assert cache_key(select(changed)) != key, changed
    one_file = select(base).train[0].path
    stat = one_file.stat()
    os.utime(one_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = cache_key(select(base))
    assert touched != key
    colour_bytes = one_file.read_bytes() + b"\0"
    one_file.write_bytes(colour_bytes)
    assert cache_key(select(base)) not in (key, touched)
    grown = cache_key(select(folder_spec(root)))
    Image.new("RGB", (8, 8), (1, 200, 3)).save(root / "new.png")
    assert cache_key(select(folder_spec(root))) != grown  # a new file changes the selection

    images_dir, annotations, _, _ = make_coco_set(n_good=6, bad_cases=False)
    coco_key = cache_key(select(coco_spec(images_dir, annotations)))
    assert cache_key(select(coco_spec(images_dir, annotations, categories=("dog",)))) != coco_key
    annotations.write_text(annotations.read_text() + " ")  # same images, but a changed file
    assert cache_key(select(coco_spec(images_dir, annotations))) != coco_key


def test_second_prepare_reuses_without_decoding(make_image_folder, tmp_path, monkeypatch):
    root, _ = make_image_folder(n_good=8, bad_cases=False)
    first = prepare(folder_spec(root), cache_dir=tmp_path / "cache", progress=False)
    assert not first.reused

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache exists")

    monkeypatch.setattr(images, "decode_image", no_decoding)
    second = prepare(folder_spec(root), cache_dir=tmp_path / "cache", progress=False)
    assert second.reused and second.path == first.path and second.key == first.key
    assert np.array_equal(second.train_ab, first.train_ab) and second.meta == first.meta
    one_file = sorted(root.rglob("*.png"))[0]
    one_file.write_bytes(one_file.read_bytes() + b"\0")  # a changed file is never served stale
    with pytest.raises(AssertionError, match="decoded although"):
        prepare(folder_spec(root), cache_dir=tmp_path / "cache", progress=False)


def test_default_cache_dir_from_environment(make_image_folder, tmp_path, monkeypatch):
    root, _ = make_image_folder(n_good=4, bad_cases=False)
    monkeypatch.setenv("COLORBENCH_CACHE", str(tmp_path / "env_cache"))
    data = prepare(folder_spec(root), progress=False)
    assert data.path.parent == (tmp_path / "env_cache").resolve()


def test_sample_source(tmp_path):
    has_photos = SAMPLE_IMAGES_DIR.is_dir() and any(SAMPLE_IMAGES_DIR.iterdir())
    if not has_photos:
        with pytest.raises(ColorbenchError, match="sample photos are missing"):
            prepare(DataSpec(size=SIZE), cache_dir=tmp_path / "cache", progress=False)
        return
    data = prepare(DataSpec(size=SIZE), cache_dir=tmp_path / "cache", progress=False)
    meta = data.meta
    assert meta["found"] >= 2 and meta["train"] >= 1 and meta["val"] >= 1
    assert not set(meta["train_files"]) & set(meta["val_files"])  # split by photo
    assert select(DataSpec(size=SIZE)).train == select(DataSpec(size=SIZE)).train  # fixed


# --------------------------------------------------------------------------- atomic writes and lock
SLOW_PREPARE = textwrap.dedent(
    """
    import sys, threading, time
    from colorbench.data import DataSpec, cache, images, prepare
    stage = sys.argv[3]
    say_lock = threading.Lock()  # decoder threads print too
    def say(text):
        with say_lock:
            print(text, flush=True)
    real_decode, real_write_meta = images.decode_image, cache._write_meta
    def slow_decode(path, size, **options):
        if stage == "decode":
            say("decoding")
            time.sleep(0.25)
        return real_decode(path, size, **options)
    def slow_write_meta(tmp, meta):
        real_write_meta(tmp, meta)
        if stage == "commit":
            say("decoding")  # meta.json written, rename not done yet
            time.sleep(30)
    images.decode_image, cache._write_meta = slow_decode, slow_write_meta
    spec = DataSpec(source="folder", root=sys.argv[1], size=16)
    data = prepare(spec, cache_dir=sys.argv[2], progress=False)
    say(f"done {data.path}")
    """
)


def start_slow_prepare(root: Path, cache_dir: Path, stage: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_PREPARE, str(root), str(cache_dir), stage],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "decoding"  # inside the preparation now
    return process


@pytest.mark.parametrize("stage", ["decode", "commit"])
def test_prepare_killed_midway_leaves_no_cache_then_completes(make_image_folder, tmp_path, stage):
    root, _ = make_image_folder(n_good=24, bad_cases=False)
    cache_dir = tmp_path / "cache"
    process = start_slow_prepare(root, cache_dir, stage)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    key = cache_key(select(folder_spec(root)))
    assert not (cache_dir / key).exists()
    assert len(list(cache_dir.glob(f"{key}.tmp-*"))) == 1  # the killed preparation's leftovers
    data = prepare(folder_spec(root), cache_dir=cache_dir, progress=False)
    assert data.path == cache_dir.resolve() / key and data.meta["used"] == 24 and not data.reused
    assert not list(cache_dir.glob("*.tmp-*"))  # stale temporary directory cleaned


def test_concurrent_prepare_waits_for_the_lock_and_reuses(make_image_folder, tmp_path, monkeypatch, capsys):
    root, _ = make_image_folder(n_good=12, bad_cases=False)
    cache_dir = tmp_path / "cache"
    process = start_slow_prepare(root, cache_dir, "decode")

    def no_decoding(*args, **kwargs):
        raise AssertionError("the second process decoded instead of waiting for the first")

    monkeypatch.setattr(images, "decode_image", no_decoding)
    data = prepare(folder_spec(root), cache_dir=cache_dir, progress=False)  # blocks on the lock
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and f"done {data.path}" in out
    assert data.reused and data.meta["used"] == 12
    assert "another process is preparing" in capsys.readouterr().err


# --------------------------------------------------------------------------- loader
def indexed_arrays(n: int, size: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """l[i] holds i + column/100 (so flips are visible), ab[i] = -l[i] in both channels."""
    cols = np.arange(size, dtype=np.float32) / 100
    l = (np.arange(n, dtype=np.float32)[:, None, None, None] + cols).repeat(size, axis=2)
    l = np.broadcast_to(l, (n, 1, size, size)).astype(np.float16)
    ab = np.concatenate([-l, -l], axis=1)
    return l, ab


def decode_batches(loader: BatchLoader) -> list[tuple[list[int], list[bool]]]:
    out = []
    for l, ab in loader:
        assert l.dtype == ab.dtype == torch.float32 and l.shape[1] == 1 and ab.shape[1] == 2
        assert torch.equal(ab[:, :1], -l) and torch.equal(ab[:, 1:], -l)  # flipped together
        ids = l[:, 0, 0, :].floor().int()
        flipped = l[:, 0, 0, 0] > l[:, 0, 0, -1]
        out.append((ids[:, 0].tolist(), flipped.tolist()))
    return out


def test_loader_order_depends_only_on_seed_and_epoch():
    l, ab = indexed_arrays(37)

    def train_loader(seed):
        return BatchLoader(l, ab, 8, shuffle=True, seed=seed, flip=True, drop_last=True)

    a, b = train_loader(5), train_loader(5)
    assert len(a) == 4
    epoch0 = decode_batches(a)
    a.set_epoch(3)
    b.set_epoch(3)
    epoch3 = decode_batches(a)
    assert decode_batches(b) == epoch3  # a resumed run sees the same batches
    assert epoch3 != epoch0
    b.set_epoch(0)
    assert decode_batches(b) == epoch0
    assert decode_batches(train_loader(6)) != epoch0
    ids = [i for batch, _ in epoch0 for i in batch]
    assert len(ids) == 32 and len(set(ids)) == 32  # a permutation without the last short batch
    flips = [f for _, batch in epoch0 + epoch3 for f in batch]
    assert 0.25 < sum(flips) / len(flips) < 0.75


def test_val_loader_is_unshuffled_unflipped_and_complete():
    l, ab = indexed_arrays(37)
    val = BatchLoader(l, ab, 8, shuffle=False, seed=0, flip=False, drop_last=False)
    assert len(val) == 5
    batches = decode_batches(val)
    assert [i for batch, _ in batches for i in batch] == list(range(37))
    assert not any(f for _, batch in batches for f in batch)
    first_l, _ = next(iter(val))
    assert torch.equal(first_l, torch.from_numpy(l[:8].astype(np.float32)))


def test_loader_on_prepared_memmap(make_image_folder, tmp_path):
    root, _ = make_image_folder(n_good=10, bad_cases=False)
    data = prepare(folder_spec(root), cache_dir=tmp_path / "cache", progress=False)
    loader = BatchLoader(data.train_l, data.train_ab, 3, shuffle=True, seed=0, flip=True, drop_last=True)
    batches = list(loader)
    assert len(batches) == len(loader) == 2
    assert batches[0][0].shape == (3, 1, SIZE, SIZE) and batches[0][1].shape == (3, 2, SIZE, SIZE)
    with pytest.raises(ColorbenchError, match="no batch at all"):
        BatchLoader(data.val_l, data.val_ab, 16, shuffle=True, seed=0, flip=True, drop_last=True)


def test_batches_are_the_same_wherever_they_are_assembled(make_image_folder, tmp_path):
    root, _ = make_image_folder(n_good=10, bad_cases=False)
    data = prepare(folder_spec(root), cache_dir=tmp_path / "cache", progress=False)

    def epoch_batches(placement):
        loader = BatchLoader(
            data.train_l,
            data.train_ab,
            3,
            shuffle=True,
            seed=4,
            flip=True,
            drop_last=True,
            placement=placement,
        )
        loader.set_epoch(2)
        return loader, list(loader)

    host, host_batches = epoch_batches("host")
    resident, resident_batches = epoch_batches("device")  # the whole cache as one in-memory copy
    assert host.placement == "host" and isinstance(resident.l, torch.Tensor)
    assert resident.l.dtype == torch.float16 and resident.l.shape == data.train_l.shape
    assert len(host_batches) == len(resident_batches) == 2
    for (hl, hab), (rl, rab) in zip(host_batches, resident_batches, strict=True):
        assert hl.dtype == rl.dtype == torch.float32
        assert torch.equal(hl, rl) and torch.equal(hab, rab)


def test_the_cache_goes_to_the_device_a_chunk_at_a_time(make_image_folder, tmp_path, monkeypatch):
    """Packed runs each copy the cache to their GPU: through chunks of rows, never a whole second
    host copy; the result is the stored array, value for value, whatever the chunk boundaries."""
    from colorbench.data import loader

    root, _ = make_image_folder(n_good=10, bad_cases=False)
    data = prepare(folder_spec(root), cache_dir=tmp_path / "cache", progress=False)
    row_bytes = data.train_ab.nbytes // len(data.train_ab)
    monkeypatch.setattr(loader, "DEVICE_COPY_CHUNK_BYTES", 3 * row_bytes)  # 3 rows per chunk
    copied = loader._on_device(data.train_ab, torch.device("cpu"))
    assert copied.dtype == torch.float16 and len(data.train_ab) % 3 != 0
    assert np.array_equal(copied.numpy(), np.asarray(data.train_ab))


def test_data_placement_rule():
    from colorbench.data.loader import DEVICE_DATA_FRACTION, data_placement

    gib = 2**30
    assert data_placement(10 * gib, "cpu") == "host"
    assert data_placement(gib, "cuda", free_device_bytes=int(gib / DEVICE_DATA_FRACTION)) == "device"
    assert data_placement(gib + 1, "cuda", free_device_bytes=int(gib / DEVICE_DATA_FRACTION)) == "pinned"
    l, ab = indexed_arrays(4)
    with pytest.raises(ValueError, match="CUDA"):
        BatchLoader(l, ab, 2, shuffle=False, seed=0, flip=False, drop_last=False, placement="pinned")
    with pytest.raises(ValueError, match="placement"):
        BatchLoader(l, ab, 2, shuffle=False, seed=0, flip=False, drop_last=False, placement="gpu")


def test_large_jpegs_are_decoded_at_a_reduced_scale_not_below_the_margin(tmp_path):
    from conftest import colour_image
    from PIL import Image

    big = tmp_path / "big.jpg"
    colour_image(3).resize((1024, 768)).save(big, quality=95)
    with Image.open(big) as opened:
        images._draft_jpeg(opened, 64)  # wanted shorter side 2 * 64: 768 / 4 = 192 >= 128 > 768 / 8
        assert opened.size == (256, 192)
    with Image.open(big) as opened:
        images._draft_jpeg(opened, 256)  # 768 < 2 * 512: decoded in full
        assert opened.size == (1024, 768)
    png = tmp_path / "big.png"
    colour_image(3).resize((1024, 768)).save(png)
    with Image.open(png) as opened:
        images._draft_jpeg(opened, 16)
        assert opened.size == (1024, 768)
    # The reduced decode stays close to the full one (bicubic from the reduced image still antialiases).
    reduced = images.decode_image(big, 64).rgb.astype(np.float64)
    with Image.open(big) as opened:
        full = np.asarray(images._square(opened.convert("RGB"), 64), dtype=np.float64)
    assert reduced.shape == full.shape == (64, 64, 3)
    assert np.abs(reduced - full).mean() < 2.0
