"""What `pip install -e` leaves for importlib.metadata, without pip: a dist-info folder with METADATA and the
entry points, in a `site` folder the caller puts on the path. The plug-in tests install their packages with it."""
from pathlib import Path


def install_entry_points(site: Path, distribution: str, groups: dict[str, dict[str, str]]) -> Path:
    """`groups`: {entry-point group: {name: "module:attribute"}}; returns `site`."""
    dist = site / f"{distribution.replace('-', '_')}-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items())
        for group, entries in groups.items()))
    return site
