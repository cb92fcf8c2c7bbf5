"""The ``ctx`` command scripts find on their PATH, and its native build.

A script operation calls ``ctx`` several times, and each call is a new process: about a
millisecond for the C client against ten or more for Python's start-up. So the C client is
compiled once per machine when a compiler exists; otherwise (or with
``CFY_LOCAL_CTX_CLIENT=python``) scripts get the Python client, which behaves the same
(both only relay to the proxy, which does all the work).

The commands live in a cache folder that outlives operations, so a process a script left
running that calls ``ctx`` later gets a clear "the operation has ended" error rather than
"command not found". Nothing in it is specific to an operation: the socket and the token
come from the script's environment.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading

SHIM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim")
SOURCE = os.path.join(SHIM_DIR, "ctx_client.c")
COMPILE_TIMEOUT = 60.0

_lock = threading.RLock()
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


def _python_ctx_command() -> str:
    python = sys.executable
    loader = ("import sys\n"
              f"sys.path.insert(0, {SHIM_DIR!r})\n"
              "from _cfy_local_ctx_cli import main\n"
              "sys.exit(main())\n")
    if len(python) < 120 and not any(char.isspace() for char in python):
        # -I -S: no site-packages, no user paths -- the client needs built-in modules only, and
        # starts several milliseconds faster.
        return f"#!{python} -IS\n{loader}"
    return (f"#!/bin/sh\nexec {shlex.quote(python)} -IS -c {shlex.quote(loader)} \"$@\"\n")


def _ctx_sh(ctx_command: str) -> str:
    return ("# source me: a ctx function that ends the calling script when ctx fails\n"
            f"ctx() {{ {shlex.quote(ctx_command)} \"$@\" || exit $?; }}\n")


def write_commands(directory: str, native: str | None) -> None:
    """Write ``ctx`` (a link to the ``native`` client, or the Python client) and ``ctx-sh``
    into ``directory`` (which must exist)."""
    ctx_command = os.path.join(directory, "ctx")
    if native is not None:
        os.symlink(native, ctx_command)
    else:
        with open(ctx_command, "w", encoding="utf-8") as handle:
            handle.write(_python_ctx_command())
        os.chmod(ctx_command, 0o700)
    with open(os.path.join(directory, "ctx-sh"), "w", encoding="utf-8") as handle:
        handle.write(_ctx_sh(ctx_command))
    os.chmod(os.path.join(directory, "ctx-sh"), 0o700)


_command_dirs: dict[tuple, str | None] = {}


def command_dir() -> str | None:
    """A lasting folder holding ``ctx`` and ``ctx-sh`` for this Python and client kind; None
    if the cache folder cannot be used (the runner then writes them per operation)."""
    native = native_ctx_client()
    key = (native, sys.executable, SHIM_DIR)
    with _lock:
        if key in _command_dirs:
            return _command_dirs[key]
        _command_dirs[key] = path = _make_command_dir(key, native)
        return path


def _make_command_dir(key: tuple, native: str | None) -> str | None:
    digest = hashlib.sha256(repr(key).encode() + _python_ctx_command().encode()).hexdigest()[:16]
    directory = os.path.join(cache_dir(), f"bin-{digest}")
    if _trusted(directory) and os.path.exists(os.path.join(directory, "ctx-sh")):
        if os.path.exists(os.path.join(directory, "ctx")):   # follows the link to the native client
            return directory
        shutil.rmtree(directory, ignore_errors=True)          # its client was deleted: build afresh
    try:
        os.makedirs(cache_dir(), mode=0o700, exist_ok=True)
        if not _trusted(cache_dir()):
            return None
        staging = f"{directory}.{os.getpid()}.{threading.get_ident()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        os.mkdir(staging, 0o700)
        # ctx-sh names the final path of ctx, so write it for the final folder
        write_commands(staging, native)
        with open(os.path.join(staging, "ctx-sh"), "w", encoding="utf-8") as handle:
            handle.write(_ctx_sh(os.path.join(directory, "ctx")))
        try:
            os.rename(staging, directory)   # atomic; loses harmlessly to a concurrent builder
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError:
        return None
    return directory if _trusted(directory) else None
