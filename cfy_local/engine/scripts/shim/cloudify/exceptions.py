"""The exception classes of Cloudify's ``cloudify.exceptions``, for Python script operations.

Raising one of these (uncaught) from a script has the effect it has in Cloudify: the script
boot reports it to the ctx proxy, and the operation fails without a retry
(NonRecoverableError), or is retried (RecoverableError, OperationRetry).
"""


class NonRecoverableError(Exception):
    def __init__(self, *args, **kwargs):
        self.causes = kwargs.pop("causes", None) or []
        super(NonRecoverableError, self).__init__(*args, **kwargs)


class RecoverableError(Exception):
    def __init__(self, message="", retry_after=None, causes=None, **kwargs):
        if retry_after is not None:
            message = "%s [retry_after=%s]" % (message, retry_after)
        super(RecoverableError, self).__init__(message, **kwargs)
        self.retry_after = retry_after
        self.causes = causes or []


class OperationRetry(RecoverableError):
    pass


class HttpException(NonRecoverableError):
    def __init__(self, url, code, message, causes=None, **kwargs):
        self.url = url
        self.code = code
        self.message = message
        super(HttpException, self).__init__(str(self), causes=causes, **kwargs)

    def __str__(self):
        return "%s (%s) : %s" % (self.code, self.url, self.message)


class CommandExecutionError(RuntimeError):
    def __init__(self, command, error=None):
        self.command = command
        self.error = error
        super(CommandExecutionError, self).__init__(
            "Failed executing command: %s.\nerror: %s" % (command, error))


class CommandExecutionException(Exception):
    def __init__(self, command, error, output, code):
        self.command = command
        self.error = error
        self.code = code
        self.output = output
        super(CommandExecutionException, self).__init__(
            "Command '%s' executed with an error.\ncode: %s\nerror: %s\noutput: %s" % (command, code, error, output))


class ProcessExecutionError(RuntimeError):
    def __init__(self, message, error_type=None, traceback=None, causes=None, **kwargs):
        super(ProcessExecutionError, self).__init__(message, **kwargs)
        self.error_type = error_type
        self.traceback = traceback
        self.causes = causes or []


class TimeoutException(Exception):
    pass
