"""``cloudify.decorators`` for plugin code running without cloudify-common: the decorators
mark functions the way Cloudify's do and change nothing else."""


def _optional_args(mark):
    def decorator(func=None, **kwargs):
        if func is None:
            return lambda f: mark(f, **kwargs)
        return mark(func, **kwargs)
    return decorator


def _operation(func, resumable=False, **_):
    func.resumable = resumable
    return func


def _workflow(func, system_wide=False, resumable=False, **_):
    func.workflow_system_wide = system_wide
    func.resumable = resumable
    return func


operation = _optional_args(_operation)
task = operation
workflow = _optional_args(_workflow)
