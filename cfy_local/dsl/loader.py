"""Safe YAML loading for blueprints and inputs.

``yaml.SafeLoader`` only, plus three guards against hostile files: the expanded size of
aliases is bounded (billion laughs would otherwise explode when the plan is copied or
written), nesting depth is bounded, and bytes must be UTF-8. Mappings come back as
:class:`Mapping` (a plain ``dict`` subclass) that remembers the line of the mapping and of
each key, so later validation errors can name ``file:line``.
"""
from __future__ import annotations

import os
import stat
from typing import Any

import yaml

from cfy_local.errors import DSLError

MAX_EXPANDED_NODES = 2_000_000
MAX_DEPTH = 200
MAX_FILE_BYTES = 64 * 1024 * 1024


class Mapping(dict):
    """A YAML mapping that knows where it came from (``source``, 1-based ``line``)."""

    __slots__ = ("source", "line", "key_lines")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.source = None
        self.line = None
        self.key_lines: dict = {}


def where(obj: Any, key: Any = None) -> str:
    """``file:line`` of a mapping (or of one of its keys) when known, else ``""``."""
    if isinstance(obj, Mapping) and obj.source:
        line = obj.key_lines.get(key, obj.line) if key is not None else obj.line
        return f"{obj.source}:{line}" if line else obj.source
    return ""


def _make_loader(source: str, plain: bool):
    class Loader(yaml.SafeLoader):
        def compose_document(self):
            node = super().compose_document()
            _check_size(node, source)
            return node

        def construct_mapping(self, node, deep=False):
            if plain:
                return super().construct_mapping(node, deep=deep)
            mapping = Mapping()
            mapping.source = source
            mapping.line = node.start_mark.line + 1
            explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            self.flatten_mapping(node)
            merged_count = len(node.value) - explicit
            seen_explicit = set()
            for index, (key_node, value_node) in enumerate(node.value):
                key = self.construct_object(key_node, deep=deep)
                try:
                    hash(key)
                except TypeError:
                    raise DSLError(f"{source}:{key_node.start_mark.line + 1}: a mapping key must be a scalar") from None
                if index >= merged_count:
                    if key in seen_explicit:
                        raise DSLError(f"{source}:{key_node.start_mark.line + 1}: duplicate key '{key}'")
                    seen_explicit.add(key)
                mapping[key] = self.construct_object(value_node, deep=deep)
                mapping.key_lines[key] = key_node.start_mark.line + 1
            return mapping

    if not plain:
        Loader.add_constructor("tag:yaml.org,2002:map", lambda loader, node: loader.construct_mapping(node, deep=True))
    return Loader


def _check_size(root, source: str) -> None:
    """Refuse documents whose alias-expanded size or depth is unreasonable, without expanding."""
    sizes: dict[int, int] = {}
    stack = [(root, 0, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise DSLError(f"{source}:{node.start_mark.line + 1}: nesting deeper than {MAX_DEPTH} levels")
        key = id(node)
        if key in sizes and not done:
            continue
        children: list = []
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                children.extend((k, v))
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if done:
            total = 1 + sum(sizes.get(id(c), 1) for c in children)
            if total > MAX_EXPANDED_NODES:
                raise DSLError(f"{source}: aliases expand to more than {MAX_EXPANDED_NODES} values; refusing the file")
            sizes[key] = total
            continue
        sizes[key] = 1  # provisional: a recursive alias counts once instead of looping
        stack.append((node, depth, True))
        for child in children:
            if id(child) not in sizes:
                stack.append((child, depth + 1, False))


def load_yaml_text(text: str, source: str, *, plain: bool = False) -> Any:
    """Parse one YAML document; errors become one-line :class:`DSLError` naming file and line."""
    loader = None
    try:
        loader = _make_loader(source, plain)(text)
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise DSLError(f"{source}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise DSLError(f"{source}: invalid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise DSLError(f"{source}: nesting too deep; refusing the file") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml_file(path: str, display: str | None = None, *, plain: bool = False) -> Any:
    display = display or path

    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):
            raise DSLError(f"{display}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise DSLError(f"{display}: file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; refusing it")
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise DSLError(f"{display}: file not found") from None
    except IsADirectoryError:
        raise DSLError(f"{display}: is a folder, not a YAML file") from None
    except OSError as exc:
        raise DSLError(f"{display}: cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DSLError(f"{display}:{line}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    return load_yaml_text(text, display, plain=plain)
