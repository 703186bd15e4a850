"""The listening report: a self-contained HTML page with synced players, piano rolls and activity.

``build_report(result, out_dir)`` writes ``out_dir/report.html`` and ``out_dir/report/`` (compressed
audio); see ``builder`` for the layout and ``docs/REPORT.md`` for what the page shows.
"""
from __future__ import annotations

from .builder import ReportOptions, build_report
from .resynth import NoteRenderer, ResynthesisError

__all__ = ["build_report", "ReportOptions", "NoteRenderer", "ResynthesisError"]
