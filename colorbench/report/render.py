"""Lay a :class:`Report` out as HTML, LaTeX, Markdown or CSV and write it with its figures.

Templates are jinja2 files in ``colorbench/report/templates`` (``--template`` takes the user's own,
which may ``{% include %}`` the package's pieces). LaTeX templates use TeX-safe delimiters:
``\\VAR{...}`` for values, ``\\BLOCK{...}`` for statements, ``\\#{...}`` for comments, so that
TeX's braces and ``%`` never clash with jinja's.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from colorbench.errors import ColorbenchError
from colorbench.report.build import Report, aggregated_frame
from colorbench.report.tables import ARROWS, TEX_ARROWS, Cell, Row, Table

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Format:
    extension: str
    template: str  # the main template's file name
    figures: bool  # writes PNG files beside the report


FORMATS = {
    "html": Format("html", "report.html.j2", True),
    "latex": Format("tex", "report.tex.j2", True),
    "markdown": Format("md", "report.md.j2", True),
    "csv": Format("csv", "", False),
}
TEX_FRAGMENTS = (("table", "table.tex.j2"), ("influence", "influence.tex.j2"))


# --------------------------------------------------------------------------- numbers
def _number(value: float | None, decimals: int) -> str | None:
    return None if value is None else f"{value:.{decimals}f}"


def cell_parts(cell: Cell, decimals: int, interval: str) -> tuple[str | None, str | None]:
    """(mean text, spread text) of a cell; spread None for a single seed, mean None for no value."""
    return _number(cell.stat.mean, decimals), _number(cell.stat.spread(interval), decimals)


def seeds_text(row: Row) -> str:
    if row.is_reference:
        return ""
    return str(row.n_seeds) if row.n_seeds == row.n_planned else f"{row.n_seeds}/{row.n_planned}"


# --------------------------------------------------------------------------- escaping
# Math-mode forms where a text command would need T1 fonts: the documents stay on the default OT1
# encoding, whose Computer Modern Type 1 fonts every TeX install has (T1 would need bitmap fonts
# generated at compile time, or cm-super / lmodern).
_TEX_SPECIALS = {
    "\\": r"$\backslash$",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"$\sim$",
    "^": r"\^{}",
    "<": r"$<$",
    ">": r"$>$",
    "|": r"$|$",
}
_TEX_UNICODE = {
    "±": r"$\pm$",
    "×": r"$\times$",
    "≤": r"$\le$",
    "≥": r"$\ge$",
    "Δ": r"$\Delta$",
    "–": "--",
    "—": "---",
    "…": r"\dots{}",
    "µ": r"$\mu$",
    "→": r"$\rightarrow$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "‘": "`",
    "’": "'",
    "“": "``",
    "”": "''",
}


def tex_escape(text) -> str:
    """Plain text -> TeX that pdflatex compiles: specials escaped, other non-ASCII transliterated."""
    out = []
    for char in str(text):
        if char in _TEX_SPECIALS:
            out.append(_TEX_SPECIALS[char])
        elif char in _TEX_UNICODE:
            out.append(_TEX_UNICODE[char])
        elif ord(char) < 128:
            out.append(char)
        else:  # e.g. accented letters -> their base letter; anything else is dropped
            out.append(unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode())
    return "".join(out)


def md_escape(text) -> str:
    """Text for a Markdown table cell: pipes escaped, newlines flattened."""
    return re.sub(r"\s+", " ", str(text)).replace("|", r"\|").replace("*", r"\*")


# --------------------------------------------------------------------------- per-format cells
def html_cell(cell: Cell, decimals: int, interval: str) -> Markup:
    mean, spread = cell_parts(cell, decimals, interval)
    if mean is None:
        return Markup('<span class="na">n/a</span>')
    text = escape(mean) + (
        Markup(' <span class="pm">± ') + escape(spread) + Markup("</span>") if spread else ""
    )
    return Markup("<strong>") + text + Markup("</strong>") if cell.best else text


def md_cell(cell: Cell, decimals: int, interval: str) -> str:
    mean, spread = cell_parts(cell, decimals, interval)
    if mean is None:
        return "n/a"
    text = mean + (f" ± {spread}" if spread else "")
    return f"**{text}**" if cell.best else text


def tex_cell(cell: Cell, decimals: int, interval: str) -> str:
    mean, spread = cell_parts(cell, decimals, interval)
    if mean is None:
        return "n/a"
    text = mean + (rf" $\pm$ {spread}" if spread else "")
    return rf"\textbf{{{text}}}" if cell.best else text


def _environment(fmt: str, search: list[Path]) -> jinja2.Environment:
    loader = jinja2.FileSystemLoader([str(p) for p in search])
    if fmt == "latex":
        env = jinja2.Environment(
            loader=loader,
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            block_start_string=r"\BLOCK{",
            block_end_string="}",
            variable_start_string=r"\VAR{",
            variable_end_string="}",
            comment_start_string=r"\#{",
            comment_end_string="}",
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters.update(e=tex_escape, cell=tex_cell)
        env.globals.update(arrows=TEX_ARROWS)
    elif fmt == "html":
        env = jinja2.Environment(
            loader=loader,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(cell=html_cell)
        env.globals.update(arrows=ARROWS)
    else:
        env = jinja2.Environment(
            loader=loader,
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters.update(e=md_escape, cell=md_cell)
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


def _safe_stem(text: str) -> str:
    # graphicx reads a dot as the start of the extension; keep file names to letters, digits, - and _.
    return re.sub(r"[^A-Za-z0-9-]+", "_", text)


def default_output(study: str, fmt: str, root: Path = Path("reports")) -> Path:
    return root / study / f"report.{FORMATS[fmt].extension}"


def write_report(
    report: Report, fmt: str, output: Path, *, template: Path | None = None, embed_images: bool = False
) -> list[Path]:
    """Write ``report`` in ``fmt`` to ``output`` (figures and TeX fragments beside it); returns the paths."""
    if fmt not in FORMATS:
        raise ColorbenchError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if embed_images and fmt != "html":
        raise ColorbenchError("--embed-images applies to --format html only")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if fmt == "csv":
        if template is not None:
            raise ColorbenchError("--template does not apply to --format csv")
        aggregated_frame(report).to_csv(output, index=False)
        return [output]
    stem = _safe_stem(output.stem)
    for section in report.sections:
        for figure in section.figures:
            if embed_images:
                figure.src = "data:image/png;base64," + base64.b64encode(figure.data).decode("ascii")
            else:
                path = output.parent / f"{stem}-{_safe_stem(section.generator)}-{figure.kind}.png"
                path.write_bytes(figure.data)
                figure.src = path.name
                written.append(path)
    context = {"report": report, "interval": report.interval, "columns": report.columns}
    if fmt == "latex":
        for section in report.sections:
            for kind, name in TEX_FRAGMENTS:
                path = output.parent / f"{stem}-{_safe_stem(section.generator)}-{kind}.tex"
                path.write_text(_render(_template(fmt, name, None), section=section, **context))
                written.append(path)
    output.write_text(_render(_template(fmt, FORMATS[fmt].template, template), **context))
    return [output, *written]


def table_rows(table: Table) -> list[Row]:
    """The table's rows followed by the gray reference row, for templates."""
    return [*table.rows, *([table.gray] if table.gray else [])]
