"""Run reports: one self-contained HTML page for one training run, or several side by side.

``runs`` reads the run directories and computes from their checkpoints, ``charts`` draws the
curves as inline SVG, ``page`` puts the page together (``build_report``, ``write_report``).
"""

from gibbsnet_plugin.report.page import Report, build_report, write_report
from gibbsnet_plugin.report.runs import check_run_dirs

__all__ = ["Report", "build_report", "check_run_dirs", "write_report"]
