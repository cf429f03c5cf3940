"""File storage for DICOM instances, label volumes and model bundles.

`NODUS_STORAGE` is a local path (default) or an `s3://bucket/prefix` URL (django-storages).
Writes are content-addressed and atomic on disk: temp file → fsync → rename, so a crash leaves the
old file or the new one, never a mix. Keys are relative, slash-separated and never absolute.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, BinaryIO

from django.conf import settings


class StorageKeyError(ValueError):
    pass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_key(kind: str, digest: str, suffix: str = "") -> str:
    return f"{kind}/{digest[:2]}/{digest[2:4]}/{digest}{suffix}"


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise StorageKeyError(f"invalid storage key: {key!r}")
    return key


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def write_atomic(self, key: str, chunks: Iterator[bytes] | bytes) -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
                    f.write(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def write_many(self, items: list[tuple[str, bytes]]) -> None:
        """Many files atomically, with two filesystem syncs per batch instead of two fsyncs per file:
        temps written → syncfs (data durable) → renames → syncfs (names durable). A crash leaves each
        key absent or complete, never partial."""
        temps: list[tuple[str, Path]] = []
        try:
            for key, data in items:
                target = self.path(key)
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
                temps.append((tmp, target))
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            _syncfs(self.root)
            for tmp, target in temps:
                os.replace(tmp, target)
            _syncfs(self.root)
        except BaseException:
            for tmp, _ in temps:
                Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        yield self.path(key)


class S3Storage:
    """S3 through django-storages; objects are written whole, so readers never see a partial."""

    def __init__(self, url: str) -> None:
        from storages.backends.s3 import S3Storage as Backend

        bucket, _, prefix = url[len("s3://") :].partition("/")
        self.backend: Any = Backend(bucket_name=bucket, location=prefix.strip("/"), file_overwrite=True)

    def exists(self, key: str) -> bool:
        return bool(self.backend.exists(_check_key(key)))

    def write_atomic(self, key: str, chunks: Iterator[bytes] | bytes) -> int:
        from django.core.files.base import ContentFile

        data = chunks if isinstance(chunks, bytes) else b"".join(chunks)
        self.backend.save(_check_key(key), ContentFile(data))
        return len(data)

    def open(self, key: str) -> BinaryIO:
        return self.backend.open(_check_key(key), "rb")  # type: ignore[no-any-return]

    def read(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def delete(self, key: str) -> None:
        self.backend.delete(_check_key(key))

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(key).name
            with self.open(key) as src, path.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            yield path


@lru_cache(maxsize=1)
def _libc_syncfs() -> Any:
    """libc's syncfs, looked up once: find_library runs `ldconfig -p` in a subprocess (~4 ms)."""
    import ctypes
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(libc_name, use_errno=True), "syncfs", None) if libc_name else None


def _syncfs(root: Path) -> None:
    """Flush the filesystem holding `root` (Linux syncfs; os.sync elsewhere)."""
    syncfs = _libc_syncfs()
    if syncfs is None:
        os.sync()
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


@lru_cache(maxsize=4)
def _storage_for(location: str) -> LocalStorage | S3Storage:
    if location.startswith("s3://"):
        return S3Storage(location)
    root = Path(location)
    root.mkdir(parents=True, exist_ok=True)
    return LocalStorage(root)


def get_storage() -> LocalStorage | S3Storage:
    return _storage_for(str(settings.NODUS_STORAGE))


def put_content_addressed(kind: str, data: bytes, suffix: str = "") -> tuple[str, str]:
    """Store bytes under their sha256; returns (key, digest). Identical content is stored once."""
    digest = sha256_bytes(data)
    key = content_key(kind, digest, suffix)
    storage = get_storage()
    if not storage.exists(key):
        storage.write_atomic(key, data)
    return key, digest


def copy_stream(src: IO[bytes], chunk: int = 1 << 20) -> Iterator[bytes]:
    while True:
        block = src.read(chunk)
        if not block:
            return
        yield block
