"""Thread-local "current context" stacks and the proxies behind ``from cloudify import ctx``.

Each operation pushes its ctx on the stack of the thread that runs it, the workflow
function pushes the workflow ctx on its own thread, so concurrent operations never see
each other's ctx (the 7.0.5 shared-proxy bug is not copied).
"""
from __future__ import annotations

import threading
from typing import Any


class NotInContext(RuntimeError):
    """Raised when a ctx proxy is used outside an operation or workflow thread."""


class _ContextStack(threading.local):
    def __init__(self):
        self.stack: list[tuple[Any, Any]] = []


class CurrentContext:
    """Cloudify's ``cloudify.state.current_ctx`` / ``current_workflow_ctx``."""

    def __init__(self, fallback: "CurrentContext | None" = None):
        self._local = _ContextStack()
        self._fallback = fallback

    def push(self, ctx: Any, parameters: Any = None) -> None:
        self._local.stack.append((ctx, parameters))

    def pop(self) -> None:
        if self._local.stack:
            self._local.stack.pop()

    def set(self, ctx: Any, parameters: Any = None) -> None:
        self.push(ctx, parameters)

    def clear(self) -> None:
        self.pop()

    def _top(self):
        if self._local.stack:
            return self._local.stack[-1]
        if self._fallback is not None:
            return self._fallback._top()
        raise NotInContext("No context set in current execution thread")

    def get_ctx(self) -> Any:
        return self._top()[0]

    def get_parameters(self) -> Any:
        params = self._top()[1]
        return params if params is not None else {}

    def check(self) -> bool:
        try:
            self._top()
        except NotInContext:
            return False
        return True


class ContextProxy:
    """Forwards every attribute, item and call to the current object of a stack."""

    __slots__ = ("_resolve",)

    def __init__(self, resolve):
        object.__setattr__(self, "_resolve", resolve)

    def _get_current_object(self):
        return object.__getattribute__(self, "_resolve")()

    def __getattr__(self, name):
        return getattr(self._get_current_object(), name)

    def __setattr__(self, name, value):
        setattr(self._get_current_object(), name, value)

    def __delattr__(self, name):
        delattr(self._get_current_object(), name)

    def __getitem__(self, key):
        return self._get_current_object()[key]

    def __setitem__(self, key, value):
        self._get_current_object()[key] = value

    def __delitem__(self, key):
        del self._get_current_object()[key]

    def __contains__(self, key):
        return key in self._get_current_object()

    def __iter__(self):
        return iter(self._get_current_object())

    def __len__(self):
        return len(self._get_current_object())

    def __call__(self, *args, **kwargs):
        return self._get_current_object()(*args, **kwargs)

    def __bool__(self):
        try:
            return bool(self._get_current_object())
        except NotInContext:
            return False

    def __repr__(self):
        try:
            return repr(self._get_current_object())
        except NotInContext:
            return "<unbound cloudify ctx proxy>"


class AttrDict(dict):
    """``ctx_parameters`` / ``parameters``: a dict whose attribute access raises KeyError."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]


current_workflow_ctx = CurrentContext()
# The operation stack falls back to the workflow's, so ``from cloudify import ctx`` also
# works inside workflow functions, as the brief asks.
current_ctx = CurrentContext(fallback=current_workflow_ctx)

ctx = ContextProxy(current_ctx.get_ctx)
ctx_parameters = ContextProxy(current_ctx.get_parameters)
workflow_ctx = ContextProxy(current_workflow_ctx.get_ctx)
workflow_parameters = ContextProxy(current_workflow_ctx.get_parameters)
