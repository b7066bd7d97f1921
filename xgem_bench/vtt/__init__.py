"""Visual Turing Test platform (paper §3.5.3, §4.4, Table A3, Figure 6): sessions built from finished runs, a
rating web app with private rater links, and the results (Table A3, tests, agreement, radar chart).

    from xgem_bench.vtt import create_session, write_results
    session = create_session(["results/<run-a>", "results/<run-b>"], "session.db", items=20, raters=3)
    write_results("session.db", "vtt-results/", with_paper=True)
"""
from __future__ import annotations

import importlib.util

#: import name -> distribution, for the `vtt` extra
VTT_PACKAGES = {"flask": "flask", "waitress": "waitress", "krippendorff": "krippendorff",
                "statsmodels": "statsmodels"}


def missing_packages_reason() -> str | None:
    """None when the `vtt` extra is installed, else what is missing and the command that installs it."""
    missing = [dist for module, dist in VTT_PACKAGES.items() if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    return f"the VTT platform needs {', '.join(missing)}: pip install 'xgem-bench[vtt]'"


def create_session(*args, **kwargs):
    """A session file from finished runs, with the raters' tokens (xgem_bench.vtt.build.create_session)."""
    from xgem_bench.vtt.build import create_session as create
    return create(*args, **kwargs)


def write_results(*args, **kwargs):
    """Table A3, stats.json and the radar chart of a session (xgem_bench.vtt.results.write_results)."""
    from xgem_bench.vtt.results import write_results as write
    return write(*args, **kwargs)
