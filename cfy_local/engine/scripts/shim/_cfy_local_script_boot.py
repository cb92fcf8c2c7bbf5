"""Runs a Python script operation: ``python _cfy_local_script_boot.py SCRIPT [ARG...]``.

The script runs as ``__main__`` with ``sys.argv`` and ``sys.path[0]`` as if started
directly, with a bare ``ctx`` pre-bound (``from cloudify import ctx`` works too, through
the shim package next to this file). An uncaught ``cloudify.exceptions`` error is reported
to the operation's ctx proxy so that it has Cloudify's effect (NonRecoverableError: fail
without retry; RecoverableError/OperationRetry: retry), then the script exits with 1.
"""
import os
import sys
import traceback
import types


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: _cfy_local_script_boot.py SCRIPT [ARG...]\n")
        return 2
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))

    from cloudify import ctx
    from cloudify import exceptions

    # What ``python SCRIPT`` does, minus runpy (whose imports cost more than the script's own
    # start-up): a fresh __main__ module with __file__, then exec.
    with open(script, "rb") as handle:
        code = compile(handle.read(), script, "exec")
    main_module = types.ModuleType("__main__")
    main_module.__file__ = script
    main_module.__cached__ = None
    main_module.__builtins__ = __builtins__
    main_module.ctx = ctx
    sys.modules["__main__"] = main_module
    try:
        exec(code, main_module.__dict__)
    except (exceptions.NonRecoverableError, exceptions.RecoverableError) as err:
        traceback.print_exc()
        if isinstance(err, exceptions.OperationRetry):
            error_type = "OperationRetry"
        elif isinstance(err, exceptions.RecoverableError):
            error_type = "RecoverableError"
        else:
            error_type = "NonRecoverableError"
        message = err.args[0] if isinstance(err, exceptions.RecoverableError) and err.args else str(err)
        if isinstance(err, exceptions.RecoverableError) and err.retry_after is not None:
            suffix = " [retry_after=%s]" % (err.retry_after,)
            if isinstance(message, str) and message.endswith(suffix):
                message = message[:-len(suffix)]
        from cloudify._remote_ctx import _request
        _request({"action": "raise", "error_type": error_type, "message": str(message),
                  "retry_after": getattr(err, "retry_after", None)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
