# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Files: writing results so that nothing is lost
#
# A support notebook (`tinybench.files`). A benchmark result that is half-written when the disk fills
# up or Ctrl-C arrives is worse than none: it looks like data. Every file tinybench writes (results,
# reports, figures) goes through `atomic_write_bytes`: a temporary file in the same folder, flushed to
# disk, then renamed over the target, which POSIX makes atomic. An error names the file, the OS's
# reason and what to do.

# %%
#| default_exp files

# %%
#| export
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

# %%
#| export
def write_error_message(path: str | os.PathLike, e: OSError) -> str:
    "One line saying which file could not be written, why (the OS's reason) and what to do about it."
    import errno
    fix = {errno.ENOSPC: "the disk is full: free some space or write somewhere else",
           errno.EDQUOT: "the disk quota is used up: free some space or write somewhere else",
           errno.EROFS: "the file system is read-only: write somewhere else",
           errno.EACCES: "no permission to write there: write somewhere else",
           errno.EPERM: "no permission to write there: write somewhere else"}.get(e.errno, "check the folder")
    return f"cannot write {path}: {e.strerror or e} ({fix})"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically: a temporary file in the same folder, flushed to disk, then renamed over
    `path`; the temporary file is removed on any failure (Ctrl-C included), so `path` holds either its old content
    or all of `data`, never a part. Returns `path` as a Path; an OSError says which file and why (disk full, ...)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as e:
        raise OSError(e.errno, write_error_message(path, e)) from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:  # Ctrl-C too: remove the temporary file, then let the exception go on
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OSError(e.errno, write_error_message(path, e)) from e
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    "`atomic_write_bytes` of `text` encoded with `encoding` (UTF-8)."
    return atomic_write_bytes(path, text.encode(encoding))

# %%
import errno
import tempfile

_d = Path(tempfile.mkdtemp())
atomic_write_text(_d / "a.txt", "first")
atomic_write_text(_d / "a.txt", "second")
assert (_d / "a.txt").read_text() == "second" and [p.name for p in _d.iterdir()] == ["a.txt"]
assert "the disk is full" in write_error_message(_d / "a.txt", OSError(errno.ENOSPC, "No space left on device"))
