"""`xgem-bench vtt create | serve | results`: the Visual Turing Test platform (see docs/vtt.md)."""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import List, Optional

import typer

vtt_app = typer.Typer(no_args_is_help=True, help="Visual Turing Test: blinded expert rating of real and synthetic "
                      "studies (paper §3.5.3, Table A3, Figure 6).")


def register(app: typer.Typer) -> None:
    app.add_typer(vtt_app, name="vtt")


def _require_packages() -> None:
    from xgem_bench.commands._common import fail
    from xgem_bench.vtt import missing_packages_reason
    reason = missing_packages_reason()
    if reason:
        fail(reason)


def _echo_links(session: Path, base_url: str) -> None:
    from xgem_bench.vtt.app import rater_links
    typer.echo("Private links (send each rater only their own):")
    for label, link in rater_links(session, base_url):
        typer.echo(f"  {label}: {link}")


@vtt_app.command("create")
def create(runs: List[Path] = typer.Argument(..., help="Finished run folders or run ids (see `results list`)."),
           out: Path = typer.Option(..., "--out", "-o", help="The session file to create (SQLite; never "
                                    "overwritten)."),
           items: int = typer.Option(20, help="Items per task, half real (rounded down), half synthetic."),
           raters: int = typer.Option(3, help="Number of raters, each with a private link and own item order."),
           seed: int = typer.Option(0, help="Seed of the item choice and of every rater's order."),
           model: Optional[List[str]] = typer.Option(None, "--model", "-m", help="Model(s) whose outputs are the "
                                                     "synthetic items (default: every model of the runs but the "
                                                     "oracle)."),
           tasks: Optional[str] = typer.Option(None, help="Comma-separated VTT tasks (default: all five): "
                                               "xray-realism, report-realism, report-xray-pair, xray-report, "
                                               "xray-pair."),
           root: Path = typer.Option(Path("results"), "--root", help="Folder where run ids are looked up."),
           cache_root: Optional[Path] = typer.Option(None, help="Generation cache the runs used, if it moved "
                                                     "(default: the folder each run recorded)."),
           url: str = typer.Option("http://127.0.0.1:8000", help="Base URL the raters will open (for the links)."),
           quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar.")) -> None:
    """Build a session from finished runs and print each rater's private link."""
    _require_packages()
    from xgem_bench.commands._common import user_errors
    from xgem_bench.vtt.build import create_session

    with user_errors(FileNotFoundError, FileExistsError, ValueError, KeyError, OSError):
        session = create_session(runs, out, items=items, raters=raters, seed=seed, models=model,
                                 tasks=[t.strip() for t in tasks.split(",") if t.strip()] if tasks else None,
                                 results_root=root, cache_root=cache_root, progress=not quiet)
    counts = ", ".join(f"{task} {n}" for task, n in session.n_items.items())
    typer.echo(f"{session.path}: {sum(session.n_items.values())} items ({counts}), {len(session.tokens)} raters")
    _echo_links(session.path, url)
    typer.echo(f"Serve it with: xgem-bench vtt serve {session.path}")


@vtt_app.command("serve")
def serve(session: Path = typer.Argument(..., help="A session file made by `vtt create`."),
          host: str = typer.Option("127.0.0.1", help="Address to bind. Keep 127.0.0.1 and put a reverse proxy "
                                   "with TLS in front to reach raters elsewhere (docs/vtt.md)."),
          port: int = typer.Option(8000, help="Port (0: any free port)."),
          public_url: Optional[str] = typer.Option(None, help="URL raters use (behind a proxy), for the printed "
                                                   "links."),
          threads: int = typer.Option(8, help="Worker threads.")) -> None:
    """Serve the rating app; answers are saved in the session file on every click (stop with Ctrl-C)."""
    _require_packages()
    from xgem_bench.commands._common import user_errors
    from xgem_bench.vtt.app import start_server

    with user_errors(FileNotFoundError, ValueError, OSError):
        server = start_server(session, host=host, port=port, threads=threads)
    if not _is_loopback(host):
        typer.secho(f"warning: serving on {host} without TLS; the private links travel in clear text. Prefer "
                    "127.0.0.1 behind a reverse proxy with TLS (docs/vtt.md).", err=True, fg=typer.colors.YELLOW)
    local = f"http://{host if ':' not in host else f'[{host}]'}:{server.effective_port}"
    typer.echo(f"Serving {session} on {local} (Ctrl-C stops; nothing is lost, answers are already saved)")
    _echo_links(session, public_url or local)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@vtt_app.command("results")
def results(session: Path = typer.Argument(..., help="A session file made by `vtt create`."),
            out: Path = typer.Option(Path("vtt-results"), "--out", "-o", help="Folder for the table, stats.json "
                                     "and the radar chart."),
            fmt: str = typer.Option("md", "--format", help="Table printed here: md, latex or csv (all three are "
                                    "written)."),
            with_paper: bool = typer.Option(False, "--with-paper", help="The paper's Table A3 values beside."),
            formats: str = typer.Option("png,pdf", "--formats", help="Radar chart formats: png, pdf.")) -> None:
    """Table A3, real-vs-synthetic tests, inter-rater agreement and the radar chart (Figure 6)."""
    _require_packages()
    from xgem_bench.commands._common import user_errors
    from xgem_bench.vtt.results import render_table, write_results

    with user_errors(FileNotFoundError, ValueError, OSError):
        if fmt not in ("md", "latex", "csv"):
            raise ValueError(f"unknown format {fmt!r}; use md, latex or csv")
        summary, written = write_results(session, out, tuple(f.strip().lower() for f in formats.split(",")
                                                             if f.strip()), with_paper)
    typer.echo(render_table(summary, fmt, with_paper))
    for task, found in summary["agreement"].items():
        typer.echo(f"Krippendorff's alpha ({task}): "
                   + (f"{found['alpha']:.3f}" if "alpha" in found else f"n/a ({found['reason']})"))
    done = ", ".join(f"{r['rater']} {r['rated']}/{r['items']}" for r in summary["raters"])
    typer.echo(f"Rated: {done}")
    for path in written:
        typer.echo(str(path))
