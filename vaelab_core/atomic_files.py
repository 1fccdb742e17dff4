"""Writing files so that a reader never sees half of one.

Every output of the kit (datasets, checkpoints, results) is written to a temporary file in the
target's folder and renamed over the target only once complete: an interrupted run leaves
either the old file or nothing, never a truncated one. `write_npz` writes arrays that way, with
the same bytes for the same arrays (datasets, synthetic labels).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np

from vaelab_core.errors import VaelabError

#: Timestamp of every member of an npz written here: np.savez stamps the clock, which would make
#: two runs on identical inputs differ in bytes (and data preparation must be idempotent).
NPZ_DATE_TIME = (1980, 1, 1, 0, 0, 0)


class OutputError(VaelabError, OSError):
    """An output path that cannot be written: it exists (without --force), is a folder, or is read-only."""


def check_writable(path: str | Path, force: bool = False) -> Path:
    """Fail early, before any work, if `path` cannot be (over)written. Returns it as a Path."""
    path = Path(path)
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"cannot write {path}: {blocking} is a file, not a folder; choose another "
                          "output path.")
    if path.exists() and not force:
        raise OutputError(
            f"{path} already exists; pass --force (force=True) to replace it, or choose another path."
        )
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name for the output.")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        # A real trial, not os.access(): root passes permission checks, yet a read-only file
        # system or /proc still refuses new files.
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.stem}.", suffix=".probe"):
            pass
    except OSError as err:
        raise OutputError(f"cannot write into {parent} ({err.strerror or err}); choose a writable "
                          "folder for the output.") from err
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`, else delete it.

    The temporary name keeps the target's suffix (numpy and torch look at it).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    except OSError as err:  # read-only file system, no permission, disk full ...
        raise OutputError(f"cannot write {path}: {err.strerror or err}; choose a writable folder.") from err
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; outputs get the usual mode
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_npz(path: str | Path, arrays: list[tuple[str, np.ndarray]],
              compress: bool | Collection[str] = True) -> Path:
    """Write `arrays` ([(name, array), ...], in that order) as an .npz at `path`, atomically.

    np.savez without its clock and without pickle: members `name.npy` carry fixed timestamps,
    so the same arrays give the same bytes; an object array raises ValueError and writes
    nothing. `compress`: True deflates every member, False none, or the names to deflate.
    Returns `path` as a Path.
    """
    path = Path(path)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, value in arrays:
            deflate = name in compress if not isinstance(compress, bool) else compress
            info = zipfile.ZipInfo(f"{name}.npy", date_time=NPZ_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            with archive.open(info, "w") as member:
                # np.asarray, not np.ascontiguousarray: the latter turns a 0-d string (a JSON
                # manifest) into shape (1,), which then loads as "['{...}']", not JSON.
                np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
    return path
