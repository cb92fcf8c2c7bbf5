"""The exceptions operations raise, mirroring ``cloudify.exceptions``.

Inside the engine's process ``cloudify.exceptions`` is an alias of this module, so a
plugin's ``raise NonRecoverableError(...)`` raises exactly these classes and the task
runner can classify failures: NonRecoverableError fails at once, OperationRetry and
RecoverableError are retried (honouring ``retry_after``), anything else is retried too.
"""
from __future__ import annotations


class OperationExecutionError(Exception):
    """Base of the errors an operation raises on purpose.

    ``causes`` is a list of dicts (``message``, ``type``, ``traceback``) describing the
    errors that led to this one; the engine puts them in the task failure event.
    """

    def __init__(self, message: str = "", causes: list | None = None):
        super().__init__(message)
        self.causes = list(causes or [])


class NonRecoverableError(OperationExecutionError):
    """The operation failed and retrying cannot help: the task fails at once."""


class RecoverableError(OperationExecutionError):
    """The operation failed but may succeed later; ``retry_after`` (seconds) overrides
    the task's retry interval for the next attempt."""

    def __init__(self, message: str = "", retry_after: float | None = None,
                 causes: list | None = None, **kwargs):
        if retry_after is not None:
            retry_after = float(retry_after)
            if retry_after < 0:
                raise ValueError("retry_after must be a non-negative number")
            message = f"{message} [retry_after={retry_after:g}]" if "[retry_after=" not in message else message
        super().__init__(message, causes)
        self.retry_after = retry_after


class OperationRetry(RecoverableError):
    """Raised by ``ctx.operation.retry(...)``: ask for another attempt, not a failure."""


class HttpException(NonRecoverableError):
    """An HTTP call made by the operation failed (status ``code``)."""

    def __init__(self, url: str = "", code: int | None = None, message: str = "",
                 causes: list | None = None):
        self.url = url
        self.code = code
        self.message = message
        super().__init__(str(self) if (url or code or message) else "", causes)

    def __str__(self) -> str:
        return f"{self.code} ({self.url}) : {self.message}"


class ProcessExecutionError(RuntimeError):
    """A subprocess started by an operation (usually a script) exited non-zero."""

    def __init__(self, message: str, error_type: str | None = None,
                 traceback: str | None = None, causes: list | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.traceback = traceback
        self.causes = list(causes or [])

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.error_type}: {text}" if self.error_type else text


class TimeoutException(Exception):
    """An operation or wait exceeded its time limit."""


class WorkflowFailed(Exception):
    """Raised inside workflow code when a task graph fails (``cloudify.workflows``)."""


class CommandExecutionException(Exception):
    """A shell command failed (kept for compatibility with plugins that import it)."""

    def __init__(self, command, error, output, code):
        self.command, self.error, self.output, self.code = command, error, output, code
        super().__init__(f"Failed executing command: {command}\ncode: {code}\nerror: {error}\nmessage: {output}")


class CommandExecutionError(RuntimeError):
    """Same as CommandExecutionException, other historic name."""

    def __init__(self, command, error=None):
        self.command, self.error = command, error
        super().__init__(f"Failed executing command: {command}\nerror: {error}")


# --- how a run ends, for the worker (not part of the ``cloudify.exceptions`` alias) ------

class WorkflowRunFailed(Exception):
    """The workflow run ended in failure. ``error`` holds the message and traceback text.

    Distinct from ``WorkflowFailed`` above, which workflow code raises inside a run."""

    def __init__(self, error: str):
        super().__init__(error.splitlines()[0] if error else "workflow failed")
        self.error = error


class WorkflowCancelled(Exception):
    """The workflow run stopped because the execution was cancelled."""


ENGINE_ONLY = frozenset({"WorkflowRunFailed", "WorkflowCancelled", "ENGINE_ONLY"})
