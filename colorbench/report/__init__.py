"""Reports of a results store: the study's tables, influence ranking, image grids, curves and protocol.

``build_report(out_dir, study)`` assembles everything from the store (nothing is trained);
``write_report(report, fmt, path)`` lays it out as HTML, LaTeX, Markdown or CSV. See docs/reports.md.
"""

__all__ = ["FORMATS", "Report", "build_report", "default_output", "write_report"]


def __getattr__(name: str):
    # Lazy: the CLI imports colorbench.report.commands at start-up, and the report's modules pull in
    # torch (metrics, grids) and matplotlib, which `colorbench --help` must not wait for.
    if name in ("Report", "build_report"):
        from colorbench.report import build

        return getattr(build, name)
    if name in ("FORMATS", "default_output", "write_report"):
        from colorbench.report import render

        return getattr(render, name)
    raise AttributeError(name)
