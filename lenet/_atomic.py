"""Files written whole or not at all: a temporary file beside the target, then ``os.replace``
(atomic on one file system), so a reader, or a process killed mid-write, never sees half a file."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["write_atomic", "write_json_atomic"]


def write_atomic(path: Path, write: Callable[[IO[bytes]], Any], durable: bool = True) -> None:
    """Call ``write(file)`` on a temporary file, then rename it to ``path``.

    ``durable`` flushes it to the disk first (run folders must survive a power cut; a file that
    is rewritten every second, such as live weights, need not)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, lambda f: f.write(json.dumps(obj, indent=1).encode()))
