"""The built-in script runner: Cloudify's ``script_runner.tasks.run`` (docs/cloudify-behaviour.md,
"Scripts and the ctx proxy").

One call runs one script operation: fetch the script into a private 0700 work folder,
start a ctx proxy for this operation, run the script as a child of the worker (same
process group, so a kill-cancel reaches it), stream its output into ``ctx.logger`` line by
line, then turn what happened into the operation's result or exception, as Cloudify's script plugin does.
"""
from __future__ import annotations

import collections
import errno
import json
import os
import selectors
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from typing import Any

from cfy_local.engine import exceptions
from cfy_local.engine.scripts import native
from cfy_local.engine.scripts.ctx_proxy import CtxProxy, ScriptOutcome

SHIM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim")
BOOT_SCRIPT = os.path.join(SHIM_DIR, "_cfy_local_script_boot.py")

# Inputs that configure the runner itself and are not exported to the script (Cloudify's list).
RUNNER_ARGUMENTS = ("ctx", "script_path", "script_source", "process", "ssl_cert_content")
ETXTBSY_RETRIES = 10  # ~0.55 s of pauses at most; see _execute

# Interpreters for scripts with neither a '#!' line nor an executable format.
INTERPRETERS_BY_SUFFIX = {".sh": "bash", ".bash": "bash", ".pl": "perl", ".rb": "ruby"}
PYTHON_SUFFIXES = (".py",)

WAITING_LOG_INTERVAL = 20.0        # Cloudify logs "Waiting for process ..." every 20 s
OUTPUT_GRACE_AFTER_EXIT = 2.0      # a background child may keep the pipes open; do not wait for it
ERROR_TAIL_LINES = 20              # lines of stdout/stderr quoted in a failure
DOWNLOAD_TIMEOUT = 60.0
UNIX_SOCKET_PATH_MAX = 100         # sun_path is 108 bytes on Linux; keep a margin
WORKDIR_PREFIX = "cfy-script-"     # + "<worker pid>-<random>"


def _non_recoverable(message: str) -> Exception:
    return exceptions.NonRecoverableError(message)


# ----------------------------------------------------------------------------- entry point

def run(ctx: Any, script_path: str | None = None, script_source: str | None = None,
        process: dict | None = None, **kwargs: Any) -> Any:
    """Run a script operation; return what the script gave to ``ctx returns``, else None."""
    if not script_path and not script_source:
        raise _non_recoverable("Either script_path or script_source must be provided")
    if script_path and script_source:
        raise _non_recoverable("Only provide script_path or script_source, not both")
    process = _process_options(process)
    proxy_type = process.get("ctx_proxy_type")
    if proxy_type not in (None, "auto", "http", "none"):
        raise _non_recoverable(f"Unsupported proxy type: {proxy_type}")

    inputs = {key: value for key, value in kwargs.items() if key not in RUNNER_ARGUMENTS}
    parameters = dict(inputs)
    parameters["script_path"] = script_path
    if script_source:
        parameters["script_source"] = script_source
    if process:
        parameters["process"] = process

    _sweep_abandoned_workdirs()
    workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-", dir=_exec_temp_root())
    socket_dir = workdir
    proxy: CtxProxy | None = None
    try:
        script_file = _fetch_script(ctx, workdir, script_path, script_source, process,
                                    kwargs.get("ssl_cert_content"))
        argv = _command(script_file, process)
        env = _environment(inputs, process, workdir)
        if proxy_type != "none":
            if len(workdir) > UNIX_SOCKET_PATH_MAX - len("/ctx.sock"):
                # a long CFY_EXEC_TEMP would not fit a socket address: put the socket in /tmp
                socket_dir = tempfile.mkdtemp(prefix="cfy-ctx-", dir="/tmp" if os.path.isdir("/tmp") else None)
            proxy = CtxProxy(ctx, socket_dir, parameters=parameters).start()
            bin_dir = _ctx_command_dir(workdir)
            env["PATH"] = bin_dir + os.pathsep + env.get("PATH", os.defpath)
            env["CTX_SOCKET_URL"] = proxy.url
            env["CFY_LOCAL_CTX_TOKEN"] = proxy.token
        else:
            env["CTX_SOCKET_URL"] = ""
        # Logs and errors name the script as the blueprint does (scripts/create.sh), not its temporary copy.
        shown = [script_path if script_path and arg == script_file else arg for arg in argv]
        return_code, stdout_tail, stderr_tail = _execute(ctx, argv, env, process, shown=shown)
        outcome = proxy.outcome if proxy is not None else ScriptOutcome()
    finally:
        if proxy is not None:
            proxy.close()
            ctx.logger.debug("Context proxy closed")
        if socket_dir != workdir:
            shutil.rmtree(socket_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return _outcome_result(outcome, shown, return_code, stdout_tail, stderr_tail)


_swept = threading.Event()


def _sweep_abandoned_workdirs() -> None:
    """Once per process: remove work folders of workers that died without cleaning up (a
    kill-cancel SIGKILLs the worker mid-operation). The folder name carries its worker's pid."""
    if _swept.is_set():
        return
    _swept.set()
    root = _exec_temp_root() or tempfile.gettempdir()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if not name.startswith(WORKDIR_PREFIX):
            continue
        pid_text = name[len(WORKDIR_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        path = os.path.join(root, name)
        try:
            if os.lstat(path).st_uid != os.getuid():
                continue
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def _process_options(process: Any) -> dict:
    if process is None:
        return {}
    if not isinstance(process, dict):
        raise _non_recoverable(f"The 'process' input must be a dictionary, not {type(process).__name__}: {process!r}")
    return dict(process)


def _exec_temp_root() -> str | None:
    root = os.environ.get("CFY_EXEC_TEMP")
    return root if root and os.path.isdir(root) else None


# ----------------------------------------------------------------------------- fetching the script

def _fetch_script(ctx: Any, workdir: str, script_path: str | None, script_source: str | None,
                  process: dict, ssl_cert_content: str | None = None) -> str:
    if script_source:
        source = textwrap.dedent(str(script_source))
        eval_python = process.get("eval_python")
        is_python = bool(eval_python) or (eval_python is None and _parses_as_python(source))
        target = os.path.join(workdir, "script.py" if is_python else "script.sh")
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(source)
    else:
        target = _download_script(ctx, workdir, str(script_path), ssl_cert_content)
    os.chmod(target, 0o755)
    return target


def _parses_as_python(source: str) -> bool:
    try:
        compile(source, "<script_source>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def _download_script(ctx: Any, workdir: str, script_path: str, ssl_cert_content: str | None = None) -> str:
    import urllib.error     # only here: urllib.request pulls in http.client, email and ssl
    import urllib.parse
    import urllib.request

    parsed = urllib.parse.urlparse(script_path)
    basename = os.path.basename(parsed.path.rstrip("/")) or "script"
    target = os.path.join(workdir, basename)
    if parsed.scheme in ("http", "https"):
        try:
            context = None
            if ssl_cert_content and parsed.scheme == "https":   # a private CA, as Cloudify's input allows
                import ssl
                context = ssl.create_default_context(cadata=str(ssl_cert_content))
            with urllib.request.urlopen(script_path, timeout=DOWNLOAD_TIMEOUT, context=context) as response:
                status = response.status
                data = response.read()
        except urllib.error.HTTPError as err:
            status, data = err.code, b""
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise _non_recoverable(f"Failed downloading script: {script_path} ({err})") from None
        if status != 200:
            raise _non_recoverable(f"Failed downloading script: {script_path} (status code: {status})")
        with open(target, "wb") as handle:
            handle.write(data)
        return target
    if parsed.scheme == "file":
        source = urllib.request.url2pathname(parsed.path)
        if not os.path.isfile(source):
            raise _non_recoverable(f"Script not found: {script_path}")
        shutil.copyfile(source, target)
        return target
    _check_inside_blueprint(script_path)
    try:
        downloaded = ctx.download_resource(script_path, target)
    except exceptions.HttpException as err:
        if err.code == 404:
            raise _non_recoverable(f"Script {script_path} was not found in the blueprint folder") from None
        raise
    except (FileNotFoundError, IsADirectoryError):
        raise _non_recoverable(f"Script {script_path} was not found in the blueprint folder") from None
    if not downloaded or not os.path.isfile(downloaded):
        raise _non_recoverable(f"Script {script_path} was not found in the blueprint folder")
    return downloaded


def _check_inside_blueprint(script_path: str) -> None:
    """Refuse paths that leave the blueprint folder, before anything is read."""
    if "\0" in script_path:
        raise _non_recoverable(f"Invalid script path {script_path!r}: it contains a NUL character")
    if os.path.isabs(script_path) or os.path.normpath(script_path).split(os.sep)[0] == "..":
        raise _non_recoverable(f"Script path {script_path} is outside the blueprint folder; "
                               "script paths are relative to the blueprint's folder")


# ----------------------------------------------------------------------------- command and environment

def _command(script_file: str, process: dict) -> list[str]:
    """The argv list (never a shell string: nothing from inputs is ever parsed by a shell)."""
    args = _process_args(process.get("args"))
    prefix = process.get("command_prefix")
    name = os.path.basename(script_file)
    suffix = os.path.splitext(name)[1].lower()
    if prefix:
        return shlex.split(str(prefix)) + [script_file] + args
    if suffix == ".ps1":
        raise _non_recoverable(f"Cannot run PowerShell script {name} here: set process.command_prefix to a "
                               "PowerShell interpreter (e.g. pwsh) to run it")
    if process.get("eval_python") or suffix in PYTHON_SUFFIXES:
        return [sys.executable, BOOT_SCRIPT, script_file] + args
    with open(script_file, "rb") as handle:
        head = handle.read(4)
    if head.startswith(b"#!") or head == b"\x7fELF":
        return [script_file] + args
    # Cloudify hands the script's path to a shell, and a shell runs a text file that has no
    # '#!' line as a shell script: /bin/sh does the same here (its arguments are still never
    # parsed by a shell).
    interpreter = INTERPRETERS_BY_SUFFIX.get(suffix, "/bin/sh")
    return [interpreter, script_file] + args


def display_command(argv: list[str]) -> str:
    """The command as a user would type it (the Python boot helper is an implementation detail)."""
    return shlex.join([arg for arg in argv if arg != BOOT_SCRIPT])


def _process_args(args: Any) -> list[str]:
    if args is None:
        return []
    if isinstance(args, str):
        return shlex.split(args)
    if isinstance(args, (list, tuple)):
        return [_env_value(arg) for arg in args]
    raise _non_recoverable(f"process.args must be a list of strings, not {type(args).__name__}")


def _env_value(value: Any) -> str:
    """Cloudify's encoding: dicts, lists and booleans as JSON; everything else through str()."""
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value)
    return str(value)


def _environment(inputs: dict, process: dict, workdir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TMPDIR", _exec_temp_root() or tempfile.gettempdir())
    for key, value in inputs.items():
        env[str(key)] = _env_value(value)
    extra = process.get("env") or {}
    if not isinstance(extra, dict):
        raise _non_recoverable(f"process.env must be a dictionary, not {type(extra).__name__}")
    for key, value in extra.items():
        env[str(key)] = _env_value(value)
    # Python scripts (and the Python a script starts) find the `cloudify` shim first.
    env["PYTHONPATH"] = SHIM_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _ctx_command_dir(workdir: str) -> str:
    """The folder with ``ctx`` to prepend to the script's PATH: the lasting shared one, or a
    per-operation copy when the cache folder cannot be written."""
    shared = native.command_dir()
    if shared is not None:
        return shared
    bin_dir = os.path.join(workdir, "bin")
    os.mkdir(bin_dir, 0o700)
    native.write_commands(bin_dir, native.native_ctx_client())
    return bin_dir


# ----------------------------------------------------------------------------- running

# A line longer than this is logged in pieces of this size, each but the last marked as
# continued: a script printing without newlines must not build one unbounded event.
MAX_LINE_BYTES = 64 * 1024
CONTINUED_MARK = " [line continues]"


class _LineStream:
    """Splits one pipe's bytes into lines and logs each as it completes, cutting lines
    longer than MAX_LINE_BYTES. Linear in the output: only new bytes are searched."""

    def __init__(self, logger: Any, tag: str):
        self.logger = logger
        self.tag = tag
        self.pending = bytearray()
        self.tail: collections.deque[str] = collections.deque(maxlen=ERROR_TAIL_LINES)

    def feed(self, data: bytes) -> None:
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            self.pending += data[start:end]
            self._cut_long()
            self._emit(bytes(self.pending))
            self.pending.clear()
            start = end + 1
        self.pending += data[start:]
        self._cut_long()

    def _cut_long(self) -> None:
        while len(self.pending) > MAX_LINE_BYTES:
            cut = MAX_LINE_BYTES
            # Never split a UTF-8 character: back off over continuation bytes.
            while cut > MAX_LINE_BYTES - 4 and (self.pending[cut] & 0xC0) == 0x80:
                cut -= 1
            piece = bytes(self.pending[:cut])
            del self.pending[:cut]
            self._emit(piece, continued=True)

    def finish(self) -> None:
        if self.pending:
            self._emit(bytes(self.pending))
            self.pending.clear()

    def _emit(self, raw: bytes, *, continued: bool = False) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if continued:
            text += CONTINUED_MARK
        self.tail.append(text)
        self.logger.info(f"{self.tag} {text}")


def _execute(ctx: Any, argv: list[str], env: dict, process: dict, *,
             shown: list[str] | None = None) -> tuple[int, list[str], list[str]]:
    logger = ctx.logger
    log_stdout = bool(process.get("log_stdout", True))
    log_stderr = bool(process.get("log_stderr", True))
    stderr_to_stdout = bool(process.get("stderr_to_stdout", False))
    logger.debug(f"log_stdout={log_stdout}, log_stderr={log_stderr}, stderr_to_stdout={stderr_to_stdout}")
    cwd = process.get("cwd")
    if cwd is not None and not os.path.isdir(str(cwd)):
        raise _non_recoverable(f"process.cwd {cwd} is not a directory")
    stdout = subprocess.PIPE if log_stdout else None
    if stderr_to_stdout:
        stderr = subprocess.STDOUT if log_stdout else None
    else:
        stderr = subprocess.PIPE if log_stderr else None
    for attempt in range(ETXTBSY_RETRIES + 1):
        try:
            # No new session: the script stays in the worker's process group, so a kill-cancel
            # of the worker reaches it too.
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                     cwd=str(cwd) if cwd is not None else None, env=env, close_fds=True)
            break
        except OSError as err:
            # "Text file busy": another thread forked while this script file was still open
            # for writing, and its child holds that descriptor until it execs. The window is
            # short; try again a few times before calling it a failure.
            if err.errno == errno.ETXTBSY and attempt < ETXTBSY_RETRIES:
                time.sleep(0.01 * (attempt + 1))
                continue
            reason = err.strerror or str(err)
            raise _non_recoverable(f"Cannot start the script: {display_command(argv)}: {reason}") from None
        except ValueError as err:   # a NUL or '=' in an environment name or value
            raise _non_recoverable(f"Cannot start the script: {display_command(argv)}: {err}") from None
    logger.info(f"Process created, PID: {child.pid}")
    out_stream = _LineStream(logger, "<out>")
    err_stream = _LineStream(logger, "<err>")
    streams = {}
    if child.stdout is not None:
        streams[child.stdout.fileno()] = out_stream
    if child.stderr is not None:
        streams[child.stderr.fileno()] = err_stream
    try:
        return_code = _pump(child, streams, logger)
    finally:
        for pipe in (child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
    logger.info(f"Execution done (PID={child.pid}, return_code={return_code}): {display_command(shown or argv)}")
    return return_code, list(out_stream.tail), list(err_stream.tail)


def _pump(child: subprocess.Popen, streams: dict, logger: Any) -> int:
    """Log output as it comes until the child exits and its pipes close (or stay open past a
    short grace: a background grandchild holding them must not hang the worker)."""
    next_waiting_log = time.monotonic() + WAITING_LOG_INTERVAL
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        while True:
            if exited_at is None and child.poll() is not None:
                exited_at = time.monotonic()
            if not selector.get_map():
                if exited_at is not None:
                    break
                timeout = max(0.0, next_waiting_log - time.monotonic())
                try:
                    child.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            elif exited_at is not None and time.monotonic() - exited_at > OUTPUT_GRACE_AFTER_EXIT:
                logger.warning(f"Process {child.pid} ended but a process it started still holds its output "
                               "open; output after this point is not logged")
                break
            else:
                wait = 0.1 if exited_at is None else min(0.1, OUTPUT_GRACE_AFTER_EXIT)
                for key, _ in selector.select(wait):
                    try:
                        data = os.read(key.fd, 65536)
                    except BlockingIOError:
                        continue
                    if data:
                        streams[key.fd].feed(data)
                    else:
                        selector.unregister(key.fd)
            if exited_at is None and time.monotonic() >= next_waiting_log:
                logger.info(f"Waiting for process {child.pid} to end...")
                next_waiting_log = time.monotonic() + WAITING_LOG_INTERVAL
    for stream in streams.values():
        stream.finish()
    return child.wait()


# ----------------------------------------------------------------------------- outcome

def _outcome_result(outcome: ScriptOutcome, argv: list[str], return_code: int,
                    stdout_tail: list[str], stderr_tail: list[str]) -> Any:
    if outcome.conflict:
        raise exceptions.NonRecoverableError("ctx may only abort or return once")
    if outcome.kind == "abort":
        raise exceptions.NonRecoverableError(_text(outcome.message))
    if outcome.kind == "retry":
        raise exceptions.OperationRetry(_text(outcome.message), retry_after=_retry_after(outcome.retry_after))
    if outcome.raised is not None:
        raised = outcome.raised
        message = _text(raised.get("message"))
        if raised["error_type"] == "OperationRetry":
            raise exceptions.OperationRetry(message, retry_after=_retry_after(raised.get("retry_after")))
        if raised["error_type"] == "RecoverableError":
            raise exceptions.RecoverableError(message, retry_after=_retry_after(raised.get("retry_after")))
        raise exceptions.NonRecoverableError(message)
    if return_code != 0:
        parts = [f"command: {display_command(argv)}", f"exit_code: {return_code}"]
        if stdout_tail:
            parts.append("stdout: " + "\n".join(stdout_tail))
        if stderr_tail:
            parts.append("stderr: " + "\n".join(stderr_tail))
        raise exceptions.ProcessExecutionError(", ".join(parts))
    return outcome.value if outcome.kind == "returns" else None


def _text(message: Any) -> str:
    return "" if message is None else str(message)


def _retry_after(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise _non_recoverable(f"retry_after must be a number of seconds, not {value!r}") from None
    if seconds < 0:
        raise _non_recoverable(f"retry_after must not be negative, not {value!r}")
    return seconds
