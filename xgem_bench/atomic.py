"""Atomic writes: readers never see a partial file or folder, and a killed writer's leftovers are recognised and
removed later. Every file the suite writes for others to read goes through here."""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: temporary files are named `.<target>.tmp-<host>-<pid>-<random>`, so a later process can tell a killed writer's
#: leftovers (same host, process gone) from a file another live process is writing right now
TEMP_MARK = ".tmp-"
#: leftovers of other hosts (shared file systems) are removed only when older than this
FOREIGN_TEMP_AGE_S = 24 * 3600
#: file names stay well under the 255-byte limit of common file systems, whatever the study id
MAX_NAME = 96


def _temp_prefix(path: Path) -> str:
    return f".{path.name[:MAX_NAME]}{TEMP_MARK}{socket.gethostname()}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temporary files left in `folder` by writers that were killed; returns what was removed."""
    removed = []
    for file in Path(folder).glob(f".*{TEMP_MARK}*"):
        host, pid = _temp_owner(file.name.rsplit(TEMP_MARK, 1)[1])
        try:
            if host == socket.gethostname() and pid is not None:
                stale = not _pid_alive(pid)
            else:
                stale = time.time() - file.stat().st_mtime > FOREIGN_TEMP_AGE_S
            if stale:
                shutil.rmtree(file) if file.is_dir() else file.unlink()  # folders: atomic_path(folder=True)
                removed.append(file)
        except FileNotFoundError:  # removed meanwhile by another process
            continue
    return removed


def _temp_owner(owner: str) -> tuple[str, int | None]:
    """`host-pid-random` -> (host, pid); host names may contain '-'."""
    host = owner.rpartition("-")[0]  # drop the random part
    host, _, pid = host.rpartition("-")
    return host, int(pid) if pid.isdigit() else None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600; results are shared with the group like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def atomic_path(path: Path, folder: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` for writers that need a name (np.savez, PIL, torch.save, a folder built file by
    file); it replaces `path` only when the block ends without error, and is removed otherwise. For a folder, an
    existing `path` is kept (another process finished first) and the temporary one dropped."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        staging = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=path.suffix, dir=path.parent)
        os.close(fd)
        staging = Path(name)
    try:
        yield staging
        if folder:
            try:
                os.rename(staging, path)
            except OSError:
                if not path.is_dir():
                    raise
                shutil.rmtree(staging)  # someone else published the same folder meanwhile
        else:
            os.chmod(staging, 0o666 & ~_umask())  # mkstemp creates 0600; results are shared like any file
            os.replace(staging, path)
    except BaseException:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.unlink(missing_ok=True)
        raise
