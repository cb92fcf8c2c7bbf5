"""Finding the Python function behind an operation or workflow mapping.

A mapping ``<plugin>.<module path>.<func>`` names a plugin declared under ``plugins:``;
its code is either a folder beside the blueprint (``source:``, relative to the blueprint
folder) or an installed package (``package_name:``). The plugin folder is put on
``sys.path`` of the engine's process (the worker), then the module is imported.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
from typing import Any, Callable

from cfy_local.engine.exceptions import NonRecoverableError

_path_lock = threading.Lock()
_cache: dict[tuple, Callable] = {}


def plugin_search_path(plugins: dict, plugin_name: str | None, resources_dir: str) -> str | None:
    """The folder to import a plugin's code from, or None for an installed package."""
    if not plugin_name:
        return None
    plugin = (plugins or {}).get(plugin_name)
    if plugin is None:
        raise NonRecoverableError(f"Plugin not found: {plugin_name}")
    source = plugin.get("source")
    if not source:
        return None
    if "://" in str(source):
        raise NonRecoverableError(
            f"Plugin `{plugin_name}`: source `{source}` is a URL; cfy-local only runs plugins from a folder "
            f"beside the blueprint or an installed package (package_name)"
        )
    base = os.path.realpath(resources_dir)
    folder = os.path.realpath(os.path.join(base, source))
    if folder != base and not folder.startswith(base + os.sep):
        raise NonRecoverableError(f"Plugin `{plugin_name}`: source `{source}` is outside the blueprint folder")
    if not os.path.isdir(folder):
        raise NonRecoverableError(f"Plugin `{plugin_name}`: source folder `{source}` does not exist in the blueprint folder")
    return folder


def _ensure_on_path(folder: str) -> None:
    with _path_lock:
        if folder not in sys.path:
            sys.path.insert(0, folder)
        src = os.path.join(folder, "src")
        if os.path.isdir(src) and src not in sys.path:
            sys.path.insert(0, src)


def import_function(mapping: str, *, plugins: dict, plugin_name: str | None, resources_dir: str) -> Callable:
    """Import ``module.path.func`` (the mapping without the plugin name) and return it."""
    key = (mapping, plugin_name, resources_dir)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    folder = plugin_search_path(plugins, plugin_name, resources_dir)
    if folder is not None:
        _ensure_on_path(folder)
    module_name, _, func_name = mapping.rpartition(".")
    if not module_name or not func_name:
        raise NonRecoverableError(f"Invalid operation mapping `{mapping}`: expected <module>.<function>")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise NonRecoverableError(f"No module named {module_name} ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - a plugin module that raises on import
        raise NonRecoverableError(f"Cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    func: Any = getattr(module, func_name, None)
    if func is None:
        raise NonRecoverableError(f"{module_name} has no function named '{func_name}' ")
    if not callable(func):
        raise NonRecoverableError(f"{module_name}.{func_name} is not callable")
    _cache[key] = func
    return func
