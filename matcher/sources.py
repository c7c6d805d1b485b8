"""Input files as readers see them: a name, a sha256, bytes to sniff and a binary stream."""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional


@dataclass
class Source:
    """A file given by path, or an upload given as bytes (``name`` is what users see in errors)."""

    name: str
    path: Optional[Path] = None
    data: Optional[bytes] = None

    @classmethod
    def of(cls, path_or_bytes: "str | Path | bytes | Source", name: Optional[str] = None) -> "Source":
        if isinstance(path_or_bytes, Source):
            return path_or_bytes
        if isinstance(path_or_bytes, (bytes, bytearray)):
            return cls(name=name or "upload", data=bytes(path_or_bytes))
        p = Path(path_or_bytes)
        return cls(name=name or p.name, path=p)

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")

    def head(self, n: int = 65536) -> bytes:
        with self.open() as fh:
            return fh.read(n)

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size  # type: ignore[union-attr]

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()

    def sha256(self) -> str:
        h = hashlib.sha256()
        with self.open() as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
