"""Turn paths, folders and zip archives into `IncomingFile`s for the ingest service.

Zips are read in memory, entry by entry, never extracted to disk: an archive with absolute or `..`
paths, symlinks, or a decompression bomb is refused as a whole before any entry is ingested."""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from django.conf import settings

from .services import IncomingFile

SKIP_NAMES = {"DICOMDIR", "Thumbs.db", "desktop.ini"}
MAX_RATIO = 200  # compression ratio above which a large entry is treated as a bomb
BOMB_MIN_BYTES = 16 * 1024**2


class ArchiveRefused(Exception):
    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule, self.reason = rule, reason


def skipped(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return not parts or parts[-1] in SKIP_NAMES or any(p.startswith(".") or p == "__MACOSX" for p in parts)


def check_zip(zf: zipfile.ZipFile, *, max_total: int) -> list[zipfile.ZipInfo]:
    entries = []
    total = 0
    for info in zf.infolist():
        name = info.filename
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in PurePosixPath(
                name.replace("\\", "/")).parts:
            raise ArchiveRefused("zip_unsafe_path", f"entry {name[:200]!r} has an absolute or parent path")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveRefused("zip_symlink", f"entry {name[:200]!r} is a symbolic link")
        if info.is_dir() or skipped(name):
            continue
        total += info.file_size
        if info.file_size > BOMB_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise ArchiveRefused("zip_bomb", f"entry {name[:200]!r} expands {ratio}x to {info.file_size} bytes")
        if total > max_total:
            raise ArchiveRefused("zip_bomb", f"archive expands to more than {max_total} bytes")
        entries.append(info)
    return entries


def iter_zip(label: str, source: str | Path | IO[bytes]) -> Iterator[IncomingFile]:
    """Entries of a zip as IncomingFiles; an unsafe archive yields one refused item for itself."""
    max_file = settings.NODUS_MAX_UPLOAD_BYTES
    try:
        with zipfile.ZipFile(source) as zf:
            entries = check_zip(zf, max_total=settings.NODUS_MAX_UPLOAD_BYTES * 4)
            for info in entries:
                name = f"{label}/{info.filename}"
                if info.file_size > max_file:
                    yield IncomingFile(name, b"", refused=("too_large", f"entry is {info.file_size} bytes"))
                    continue
                try:
                    with zf.open(info) as member:
                        data = member.read(max_file + 1)  # bounded even if the header lies
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                    yield IncomingFile(name, b"", refused=("zip_corrupt", f"entry cannot be read: {exc}"[:300]))
                    continue
                yield IncomingFile(name, data)
    except ArchiveRefused as exc:
        yield IncomingFile(label, b"", refused=(exc.rule, exc.reason))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        yield IncomingFile(label, b"", refused=("zip_corrupt", f"archive cannot be read: {exc}"[:300]))


def is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and zipfile.is_zipfile(path)


def iter_paths(paths: list[str]) -> Iterator[IncomingFile]:
    """Files, folders (recursively, sorted) and zips; hidden files and DICOMDIR are skipped."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
                if not skipped(str(child.relative_to(path))):
                    yield from _one(child)
        elif path.is_file():
            yield from _one(path)
        else:
            yield IncomingFile(raw, b"", refused=("not_found", "no such file or folder"))


def count_paths(paths: list[str]) -> int:
    n = 0
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            n += sum(1 for p in path.rglob("*") if p.is_file() and not p.is_symlink()
                     and not skipped(str(p.relative_to(path))))
        else:
            n += 1
    return n


def _one(path: Path) -> Iterator[IncomingFile]:
    if is_zip(path):
        yield from iter_zip(str(path), path)
        return
    size = path.stat().st_size
    if size > settings.NODUS_MAX_UPLOAD_BYTES:
        yield IncomingFile(str(path), b"", refused=("too_large", f"file is {size} bytes"))
        return
    yield IncomingFile(str(path), path.read_bytes())
