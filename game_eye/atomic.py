"""Files that are never half-written: write a temp file beside the target, then rename it over.

    with atomic_target(path) as tmp:       # tmp: ".<name>.<random>.tmp" in path's folder
        torch.save(doc, tmp)                # a crash or an exception here leaves ``path`` as it was
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Optional


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike, mode: Optional[int] = None, fsync: bool = False) -> Iterator[Path]:
    """A temp path beside ``path``, renamed onto it when the block ends without an error (after an
    fsync of its data when ``fsync``, with permissions ``mode`` when given), removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
