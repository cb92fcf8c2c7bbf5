"""Unpacking an uploaded blueprint archive (tar in any compression, or zip) safely.

Every member must stay inside the target folder: absolute names, ``..`` parts, links
(symbolic or hard) and device files are refused, as are archives with too many members or
too many bytes once unpacked. Nothing is written before the whole member list passed.
"""
from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
import zipfile

from cfy_local.errors import ValidationError

MAX_MEMBERS = 10_000
MAX_UNPACKED_BYTES = 500 * 1024 * 1024


class ArchiveError(ValidationError):
    """The archive cannot be unpacked safely or at all."""


def _safe_name(name: str) -> str:
    cleaned = name.replace("\\", "/")
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        raise ArchiveError(f"Blueprint archive member `{name}` has an absolute path")
    parts = [p for p in cleaned.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveError(f"Blueprint archive member `{name}` points outside the blueprint folder")
    if not parts:
        return ""
    return posixpath.join(*parts)


def _check_totals(count: int, total: int) -> None:
    if count > MAX_MEMBERS:
        raise ArchiveError(f"Blueprint archive has more than {MAX_MEMBERS} members")
    if total > MAX_UNPACKED_BYTES:
        raise ArchiveError(f"Blueprint archive unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MB")


def _write(target: str, name: str, reader, size_left: list[int]) -> None:
    path = os.path.join(target, *name.split("/"))
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    # O_EXCL|O_NOFOLLOW: a name given twice, or anything planted there, is refused.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while True:
            chunk = reader.read(1 << 16)
            if not chunk:
                break
            size_left[0] -= len(chunk)
            if size_left[0] < 0:
                raise ArchiveError(f"Blueprint archive unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MB")
            out.write(chunk)


def _extract_tar(data: bytes, target: str) -> None:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"Blueprint archive is not a tar or zip archive: {exc}") from None
    with archive:
        members = []
        total = 0
        try:
            for member in archive:
                members.append(member)
                total += max(member.size, 0)
                _check_totals(len(members), total)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"Blueprint archive is damaged: {exc}") from None
        plan = []
        for member in members:
            name = _safe_name(member.name)
            if member.issym() or member.islnk():
                raise ArchiveError(f"Blueprint archive member `{member.name}` is a link; links are not accepted")
            if not (member.isfile() or member.isdir()):
                raise ArchiveError(f"Blueprint archive member `{member.name}` is not a file or a folder")
            if name:
                plan.append((name, member))
        size_left = [MAX_UNPACKED_BYTES]
        for name, member in plan:
            if member.isdir():
                os.makedirs(os.path.join(target, *name.split("/")), mode=0o700, exist_ok=True)
                continue
            reader = archive.extractfile(member)
            _write(target, name, reader, size_left)
            if member.mode & stat.S_IXUSR:
                os.chmod(os.path.join(target, *name.split("/")), 0o700)


def _extract_zip(data: bytes, target: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"Blueprint archive is not a tar or zip archive: {exc}") from None
    with archive:
        infos = archive.infolist()
        _check_totals(len(infos), sum(max(i.file_size, 0) for i in infos))
        plan = []
        for info in infos:
            name = _safe_name(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(f"Blueprint archive member `{info.filename}` is a link; links are not accepted")
            if name:
                plan.append((name, info, mode))
        size_left = [MAX_UNPACKED_BYTES]
        for name, info, mode in plan:
            if info.is_dir():
                os.makedirs(os.path.join(target, *name.split("/")), mode=0o700, exist_ok=True)
                continue
            with archive.open(info) as reader:
                _write(target, name, reader, size_left)
            if mode & stat.S_IXUSR:
                os.chmod(os.path.join(target, *name.split("/")), 0o700)


def extract(data: bytes, target: str) -> None:
    """Unpack ``data`` into the empty folder ``target`` or raise ArchiveError."""
    if data[:4] == b"PK\x03\x04":
        _extract_zip(data, target)
    else:
        _extract_tar(data, target)
    if not os.listdir(target):
        raise ArchiveError("Blueprint archive is empty")


def main_file_folder(target: str, application_file_name: str) -> str:
    """The folder holding the main yaml: the archive's single top folder (Cloudify's
    layout), or ``target`` itself when the yaml sits at the top."""
    if os.path.isfile(os.path.join(target, application_file_name)):
        return target
    entries = [e for e in os.listdir(target)]
    if len(entries) == 1 and os.path.isdir(os.path.join(target, entries[0])):
        folder = os.path.join(target, entries[0])
        if os.path.isfile(os.path.join(folder, application_file_name)):
            return folder
    raise ArchiveError(f"Blueprint archive has no `{application_file_name}` in its top folder")
