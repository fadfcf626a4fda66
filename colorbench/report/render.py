"""Lay a :class:`Report` out as HTML, LaTeX, Markdown or CSV and write it with its figures.

Templates are jinja2 files in ``colorbench/report/templates`` (``--template`` takes the user's own,
which may ``{% include %}`` the package's pieces). LaTeX templates use TeX-safe delimiters:
``\\VAR{...}`` for values, ``\\BLOCK{...}`` for statements, ``\\#{...}`` for comments, so that
TeX's braces and ``%`` never clash with jinja's.

Text read from a store (study names, labels, descriptions, image ids, reasons) is never trusted:
HTML autoescapes it, :func:`tex_escape` turns every TeX special into its literal form (so
``\\input{...}`` prints instead of running) and :func:`md_escape` keeps a Markdown cell one cell.
"""

from __future__ import annotations

import base64
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from colorbench.errors import ColorbenchError
from colorbench.report.build import Report, aggregated_frame
from colorbench.report.effects import EffectCell
from colorbench.report.tables import (
    ARROWS,
    TEX_ARROWS,
    Cell,
    Row,
    Table,
    default_tex_columns,
    select_columns,
)

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Format:
    extension: str
    template: str  # the main template's file name


FORMATS = {
    "html": Format("html", "report.html.j2"),
    "latex": Format("tex", "report.tex.j2"),
    "markdown": Format("md", "report.md.j2"),
    "csv": Format("csv", ""),
}
TEX_FRAGMENTS = (("table", "table.tex.j2"), ("effects", "effects.tex.j2"), ("verdict", "verdict.tex.j2"))
TEX_FLOATS = ("table", "table*")


# --------------------------------------------------------------------------- numbers
def _number(value: float | None, decimals: int) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return f"{value:.{decimals}f}".replace("-", "−")


def cell_parts(cell: Cell, decimals: int, interval: str) -> tuple[str | None, str | None]:
    """(mean text, spread text) of a cell; spread None for a single seed, mean None for no value."""
    return _number(cell.stat.mean, decimals), _number(cell.stat.spread(interval), decimals)


def effect_parts(effect: EffectCell | None, decimals: int) -> tuple[str | None, str | None]:
    """(estimate, "[low, high]") of an effect; the interval None when there is none."""
    if effect is None:
        return None, None
    estimate = _number(effect.estimate, decimals)
    if estimate is not None and effect.estimate > 0:
        estimate = "+" + estimate
    if effect.low is None or effect.high is None:
        return estimate, None
    return estimate, f"[{_number(effect.low, decimals)}, {_number(effect.high, decimals)}]"


def seeds_text(row: Row) -> str:
    if row.is_reference:
        return ""
    return str(row.n_seeds) if row.n_seeds == row.n_planned else f"{row.n_seeds}/{row.n_planned}"


# --------------------------------------------------------------------------- escaping
# Math-mode forms where a text command would need T1 fonts: the documents stay on the default OT1
# encoding, whose Computer Modern Type 1 fonts every TeX install has.
_TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': "''",  # \textquotedbl needs T1; in OT1 (below) it stops pdflatex
}
_TEX_UNICODE = {
    "±": r"$\pm$",
    "×": r"$\times$",
    "≤": r"$\le$",
    "≥": r"$\ge$",
    "Δ": r"$\Delta$",
    "–": "--",
    "—": "---",
    "−": "-",
    "…": r"\dots{}",
    "µ": r"$\mu$",
    "→": r"$\rightarrow$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "·": r"$\cdot$",
    "‘": "`",
    "’": "'",
    "“": "``",
    "”": "''",
}


_LONG_WORD = 20  # characters: a path or URL this long may break after each "/" (else: overfull lines)


def tex_escape(text) -> str:
    """Plain text -> TeX that prints it: every special escaped, whitespace (newlines) collapsed;
    a long path or URL may break after its slashes."""
    return " ".join(_tex_word(word) for word in str(text).split())


def _tex_word(word: str) -> str:
    out = []
    breakable = len(word) > _LONG_WORD
    for char in word:
        if char == "/" and breakable:
            out.append("/\\allowbreak{}")
            continue
        if char in _TEX_SPECIALS:
            out.append(_TEX_SPECIALS[char])
        elif char in _TEX_UNICODE:
            out.append(_TEX_UNICODE[char])
        elif ord(char) < 128:
            out.append(char)
        else:  # e.g. accented letters -> their base letter; anything else is dropped
            out.append(unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode())
    return "".join(out)


_MD_SPECIALS = re.compile(r"([\\`*_\[\]|#<>!])")


def md_escape(text) -> str:
    """Text for Markdown (also a table cell): whitespace flattened, markup characters escaped."""
    return _MD_SPECIALS.sub(r"\\\1", " ".join(str(text).split()))


# --------------------------------------------------------------------------- per-format cells
def html_cell(cell: Cell, decimals: int, interval: str) -> Markup:
    mean, spread = cell_parts(cell, decimals, interval)
    if mean is None:
        return Markup('<span class="na">') + escape(cell.missing or "n/a") + Markup("</span>")
    text = escape(mean)
    if cell.versus_gray:  # on the mean's line, a glyph (+ or a true minus) that reads without colour
        better = cell.versus_gray == "+"
        text += Markup(
            f'<sup class="vg {"better" if better else "worse"}" '
            f'title="{"better" if better else "worse"} than gray beyond noise">'
            f"{'+' if better else '−'}</sup>"
        )
    if spread:
        text += Markup(' <span class="pm">± ') + escape(spread) + Markup("</span>")
    if cell.best:
        text = Markup('<strong class="best">') + text + Markup("</strong>")
    return text


def md_cell(cell: Cell, decimals: int, interval: str) -> str:
    mean, spread = cell_parts(cell, decimals, interval)
    if mean is None:
        return cell.missing or "n/a"
    text = mean + (f" ± {spread}" if spread else "")
    text = f"**{text}**" if cell.best else text
    return text + ({"+": "⁺", "-": "⁻"}[cell.versus_gray] if cell.versus_gray else "")


def tex_cell(cell: Cell, decimals: int, interval: str) -> str:
    """Mean, then its spread on the same line (at 7 pt, no smaller), the gray sign raised."""
    mean, spread = cell_parts(cell, decimals, interval)
    if mean is None:
        return cell.missing or "n/a"
    text = f"${mean.replace('−', '-')}$"
    if cell.versus_gray:
        text += rf"\raisebox{{0.5ex}}{{\scriptsize ${cell.versus_gray}$}}"
    if spread:  # on the mean's line, unbreakable: "12.3 ± 0.4" never splits across lines
        text += rf"\mbox{{\scriptsize ${{\pm}}{spread.replace('−', '-')}$}}"
    if cell.best:  # the whole "mean +- sd" bold, math included
        text = r"{\boldmath\bfseries " + text + "}"
    return text


def html_effect(effect: EffectCell | None, decimals: int) -> Markup:
    estimate, interval = effect_parts(effect, decimals)
    if estimate is None:
        return Markup('<span class="na">–</span>')
    css = "sig" if effect.marked else "ns"
    text = Markup(f'<span class="{css}">') + escape(estimate) + Markup("</span>")
    return text + (Markup('<span class="pm">') + escape(interval) + Markup("</span>") if interval else "")


def md_effect(effect: EffectCell | None, decimals: int) -> str:
    estimate, interval = effect_parts(effect, decimals)
    if estimate is None:
        return "–"
    text = estimate + (f" {interval}" if interval else "")
    return f"**{text}**" if effect.marked else text


def tex_effect(effect: EffectCell | None, decimals: int) -> str:
    estimate, interval = effect_parts(effect, decimals)
    if estimate is None:
        return "--"
    estimate = estimate.replace("−", "-")
    text = f"${estimate}$"
    if interval:
        interval = interval.replace("−", "-")
        text = rf"\begin{{tabular}}[t]{{@{{}}r@{{}}}}{text}\\ \scriptsize ${interval}$\end{{tabular}}"
    return r"{\boldmath\bfseries " + text + "}" if effect.marked else text  # bold as in HTML


# Metric columns per tabular: a float wider than this is split into stacked tabulars, so one
# column (``table``, 241 pt in a 10 pt two-column article) and the page (``table*``, 505 pt) both hold.
TEX_COLUMNS_PER_TABULAR = {"table": 2, "table*": 6}


def tex_unit(text) -> str:
    """A unit in TeX, a multiplication sign for a spaced "x" ("BCE + 100 x L1")."""
    return re.sub(r"(?<=\S) x (?=\S)", r" $\\times$ ", tex_escape(text))


def column_groups(columns: Sequence, tex_float: str) -> list[list]:
    """The columns in consecutive groups of at most the float's width (see TEX_COLUMNS_PER_TABULAR)."""
    size = TEX_COLUMNS_PER_TABULAR.get(tex_float, 3)
    columns = list(columns)
    return [columns[i : i + size] for i in range(0, len(columns), size)] or [[]]


def _environment(fmt: str, search: list[Path]) -> jinja2.Environment:
    loader = jinja2.FileSystemLoader([str(p) for p in search])
    common = {"undefined": jinja2.StrictUndefined, "trim_blocks": True, "lstrip_blocks": True}
    if fmt == "latex":
        env = jinja2.Environment(
            loader=loader,
            autoescape=False,
            block_start_string=r"\BLOCK{",
            block_end_string="}",
            variable_start_string=r"\VAR{",
            variable_end_string="}",
            comment_start_string=r"\#{",
            comment_end_string="}",
            keep_trailing_newline=True,
            **common,
        )
        env.filters.update(
            e=tex_escape,
            cell=tex_cell,
            effect=tex_effect,
            stem=safe_stem,
            unit=tex_unit,
        )
        env.globals.update(column_groups=column_groups)
        env.globals.update(arrows=TEX_ARROWS)
    elif fmt == "html":
        env = jinja2.Environment(loader=loader, autoescape=True, **common)
        env.filters.update(cell=html_cell, effect=html_effect)
        env.globals.update(arrows=ARROWS)
    else:
        env = jinja2.Environment(loader=loader, autoescape=False, keep_trailing_newline=True, **common)
        env.filters.update(e=md_escape, cell=md_cell, effect=md_effect)
        env.globals.update(arrows=ARROWS)
    env.globals.update(seeds_text=seeds_text, table_rows=table_rows, zip=zip)
    return env


def _template(fmt: str, name: str, user_template: Path | None) -> jinja2.Template:
    search = [TEMPLATES]
    if user_template is not None:
        if not user_template.is_file():
            raise ColorbenchError(f"template {user_template} does not exist")
        search.insert(0, user_template.parent)
        name = user_template.name
    env = _environment(fmt, search)
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise ColorbenchError(f"template {exc.filename or name}, line {exc.lineno}: {exc.message}") from None


def _render(template: jinja2.Template, **context) -> str:
    try:
        return template.render(**context)
    except jinja2.TemplateError as exc:
        raise ColorbenchError(f"template {template.name}: {type(exc).__name__}: {exc}") from None


def safe_stem(text: str) -> str:
    # graphicx reads a dot as the start of the extension; keep file names to letters, digits, - and _.
    return re.sub(r"[^A-Za-z0-9-]+", "_", text)


def default_output(study: str, fmt: str, root: Path = Path("reports")) -> Path:
    return root / safe_stem(study) / f"report.{FORMATS[fmt].extension}"


def _write(path: Path, data: str | bytes) -> None:
    try:
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    except OSError as exc:
        raise ColorbenchError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_report(
    report: Report,
    fmt: str,
    output: Path,
    *,
    template: Path | None = None,
    embed_images: bool = False,
    tex_float: str = "table*",
    columns: list[str] | None = None,
) -> list[Path]:
    """Write ``report`` in ``fmt`` to ``output`` (figures and TeX fragments beside it); returns the paths.

    ``columns``: the table's columns (keys of :func:`~colorbench.report.tables.table_columns`); default
    all, for LaTeX a selection that fits a page width (:func:`~colorbench.report.tables.default_tex_columns`).
    """
    if fmt not in FORMATS:
        raise ColorbenchError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if embed_images and fmt != "html":
        raise ColorbenchError("--embed-images applies to --format html only")
    if tex_float not in TEX_FLOATS:
        raise ColorbenchError(f"unknown table float {tex_float!r}; choose from {', '.join(TEX_FLOATS)}")
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ColorbenchError(f"cannot create {output.parent}: {exc.strerror or exc}") from None
    written: list[Path] = []
    if fmt == "csv":
        if template is not None:
            raise ColorbenchError("--template does not apply to --format csv")
        _write(output, aggregated_frame(report).to_csv(index=False))
        return [output]
    stem = safe_stem(output.stem)
    for figure in [*report.figures, *(f for s in report.sections for f in s.figures)]:
        if embed_images:
            figure.src = "data:image/png;base64," + base64.b64encode(figure.data).decode("ascii")
        else:
            path = output.parent / f"{stem}-{safe_stem(figure.generator or 'study')}-{figure.kind}.png"
            _write(path, figure.data)
            figure.src = path.name
            written.append(path)
    context = {
        "report": report,
        "interval": report.interval,
        "columns": select_columns(columns or (default_tex_columns() if fmt == "latex" else None)),
        "table_float": tex_float,
    }
    if fmt == "latex":
        for section in report.sections:
            for kind, name in TEX_FRAGMENTS:
                path = output.parent / f"{stem}-{safe_stem(section.generator)}-{kind}.tex"
                _write(path, _render(_template(fmt, name, None), section=section, **context))
                written.append(path)
    _write(output, _render(_template(fmt, FORMATS[fmt].template, template), **context))
    return [output, *written]


def table_rows(table: Table) -> list[Row]:
    """The table's rows followed by the gray reference row, for templates."""
    return [*table.rows, *([table.gray] if table.gray else [])]
