"""The native build of the ``ctx`` command: compiled once per machine when a C compiler exists.

A script operation calls ``ctx`` several times, and each call is a new process: about a
millisecond for the C client against ten or more for Python's start-up. When no compiler
is available (or ``CFY_LOCAL_CTX_CLIENT=python``), scripts get the Python client, which
behaves the same (both only relay to the proxy, which does all the work).
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import threading

SHIM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim")
SOURCE = os.path.join(SHIM_DIR, "ctx_client.c")
COMPILE_TIMEOUT = 60.0

_lock = threading.Lock()
_resolved: dict[str, str | None] = {}


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cfy-local")


def _trusted(path: str) -> bool:
    """Ours, not writable by others, executable: safe to hand to scripts."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o022 and os.access(path, os.X_OK)


def native_ctx_client() -> str | None:
    """Path of the compiled ``ctx`` client, building it if needed; None when unavailable."""
    if os.environ.get("CFY_LOCAL_CTX_CLIENT", "").lower() == "python":
        return None
    with _lock:
        if SOURCE in _resolved:
            return _resolved[SOURCE]
        _resolved[SOURCE] = path = _build()
        return path


def _build() -> str | None:
    try:
        with open(SOURCE, "rb") as handle:
            source = handle.read()
    except OSError:
        return None
    digest = hashlib.sha256(source + platform.machine().encode()).hexdigest()[:16]
    directory = cache_dir()
    binary = os.path.join(directory, f"ctx-{digest}")
    if _trusted(binary):
        return binary
    compiler = next((found for name in (os.environ.get("CC"), "cc", "gcc", "clang")
                     if name and (found := shutil.which(name))), None)
    if compiler is None:
        return None
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        return None
    if not _trusted(directory):
        return None
    temporary = f"{binary}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        result = subprocess.run([compiler, "-O2", "-o", temporary, SOURCE], capture_output=True,
                                timeout=COMPILE_TIMEOUT, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            return None
        os.chmod(temporary, 0o700)
        os.replace(temporary, binary)   # atomic: concurrent builders never expose a partial file
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return binary if _trusted(binary) else None
