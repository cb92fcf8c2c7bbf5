"""``plugin:`` imports resolved against the catalog, with the manager's rules.

``plugin:<package_name>[?version=<spec>[,<spec>]...&distribution=<name>]``: only ``version``
and ``distribution`` are allowed. Each version piece is a PEP 440 specifier (``>=1.22``,
``<2``, ``~=1.2``); a piece that is not one (``1.22.0``) means that exact version string
(``===1.22.0``), so ``version=1.2`` does not match ``1.2.0``. All pieces and repeated
``version=`` keys are AND-ed. Among the matching uploaded plugins the highest version wins,
and its YAML for the root blueprint's DSL version is the one imported: ``plugin_1_4.yaml`` for
``cloudify_dsl_1_4``, else the highest ``plugin_1_N.yaml`` below it, else ``plugin.yaml``.
"""
from __future__ import annotations

import re
from typing import Callable
from urllib.parse import parse_qs

from cfy_local.errors import DSLError
from cfy_local.plugins import catalog
from cfy_local.store.paths import Home

PREFIX = "plugin:"
_DSL_SUFFIX = re.compile(r"_(\d_\d+)\.yaml$")


def _specifier_set(values: list[str], name: str):
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    specs = SpecifierSet()
    for piece in (p for value in values for p in value.split(",")):
        piece = piece.strip()
        if not piece:
            raise DSLError(f"Specified version param {values} of the plugin {name} are in an invalid form. "
                           f"Please refer to the documentation for valid forms of versions")
        try:
            specs &= SpecifierSet(piece)
        except InvalidSpecifier:
            specs &= SpecifierSet(f"==={piece}")
    return specs


def parse_spec(import_url: str) -> tuple[str, dict]:
    """(package name, {"package_version": [...], "distribution": [...]}) of a ``plugin:`` import."""
    if not import_url.startswith(PREFIX):
        raise DSLError(f"Error retrieving plugin, expected plugin url, got: {import_url}")
    spec = import_url[len(PREFIX):].strip()
    name, _, params = spec.partition("?")
    name = name.strip()
    filters: dict[str, list[str]] = {}
    for key, values in parse_qs(params, keep_blank_values=True).items():
        renamed = {"version": "package_version", "distribution": "distribution"}.get(key)
        if renamed is None:
            raise DSLError(f"Error parsing spec for plugin {name}: invalid parameter {key}")
        filters[renamed] = values
    return name, filters


def yaml_for_dsl_version(files: list[str], dsl_version: str | None) -> str:
    """The manager's choice of a plugin's YAML for a DSL version (``1_4``); '' when none fits."""
    if not dsl_version:
        suffixed = sorted((m.group(1), f) for f in files if (m := _DSL_SUFFIX.search(f)))
        if suffixed:
            return suffixed[-1][1]
        return next((f for f in files if not _DSL_SUFFIX.search(f)), "")
    for name in files:
        if name.endswith(f"{dsl_version}.yaml"):
            return name
    lower = sorted((m.group(1), f) for f in files if (m := _DSL_SUFFIX.search(f)) and m.group(1) <= dsl_version)
    if lower:
        return lower[-1][1]
    return next((f for f in files if not _DSL_SUFFIX.search(f)), "")


def find_plugin(home: Home, import_url: str) -> dict:
    """The uploaded plugin a ``plugin:`` import names (the highest matching version)."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    name, filters = parse_spec(import_url)
    specified = "package_version" in filters
    specifiers = _specifier_set(filters["package_version"], name) if specified else SpecifierSet()
    distributions = filters.get("distribution")
    matching = []
    for plugin in catalog.list_plugins(home, package_name=name):
        if distributions and plugin.get("distribution") not in distributions:
            continue
        try:
            version = Version(str(plugin["package_version"]))
        except InvalidVersion:
            continue
        if version in specifiers:
            matching.append((version, plugin))
    if not matching:
        here = catalog._os_properties()
        distribution = f"{here['distribution']} {here['distribution_release']}".lower().strip()
        version_message = f" with version {specifiers}" if specified else ""
        raise DSLError(f'Couldn\'t find plugin "{name}"{version_message} for {distribution} in the plugins '
                       f'catalog. Please upload the plugin using the console, or cfy plugins upload')
    return max(matching, key=lambda pair: pair[0])[1]


def resolve_import(home: Home, import_url: str, dsl_version: str | None) -> str:
    """The path of the YAML file a ``plugin:`` import brings in."""
    plugin = find_plugin(home, import_url)
    chosen = yaml_for_dsl_version(list(plugin.get("yaml_files") or []), dsl_version)
    if not chosen:
        raise DSLError(f"Plugin {plugin['package_name']} {plugin['package_version']} has no YAML file for DSL "
                       f"version {dsl_version} (it has: {', '.join(plugin.get('yaml_files') or []) or 'none'})")
    return catalog.yaml_path(home, plugin, chosen)


def import_resolver(home: Home) -> Callable[[str, str | None], str]:
    """What blueprint upload hands the DSL parser for its ``plugin:`` imports."""
    return lambda import_url, dsl_version: resolve_import(home, import_url, dsl_version)
