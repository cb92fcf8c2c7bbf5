"""An in-process stand-in for the engine's operation ctx with the CloudifyContext API surface
the script runner relies on. Only the ctx object is doubled: scripts, processes, sockets and
files in these tests are real."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from typing import Any

from cfy_local.engine.exceptions import HttpException, NonRecoverableError


class RecordingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []
        self._mutex = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._mutex:
            self.records.append((record.levelname, record.getMessage()))


class DirtyDict(dict):
    """Top-level writes mark the dict dirty, as Cloudify's DirtyTrackingDict."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.dirty = False

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.dirty = True

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self.dirty = True


class Node:
    def __init__(self, node_id: str, node_type: str, properties: dict):
        self.id = self.name = node_id
        self.type = node_type
        self.properties = properties
        self.type_hierarchy = ["cloudify.nodes.Root", node_type]


class Instance:
    def __init__(self, instance_id: str, runtime_properties: dict | None = None):
        self.id = instance_id
        self.runtime_properties = DirtyDict(runtime_properties or {})
        self.updates = 0

    def update(self) -> None:
        self.updates += 1
        self.runtime_properties.dirty = False

    def refresh(self, force: bool = False) -> None:
        if self.runtime_properties.dirty and not force:
            raise NonRecoverableError("runtime_properties are dirty: refreshing now would destroy local changes")


class Operation:
    def __init__(self, name: str):
        self.name = name
        self.retry_number = 0
        self.max_retries = 3


class Entity:
    def __init__(self, entity_id: str):
        self.id = entity_id


class Side:
    def __init__(self, node: Node, instance: Instance):
        self.node = node
        self.instance = instance


class FakeCtx:
    def __init__(self, resources: str, *, node_id: str = "web", instance_id: str = "web_abc123",
                 properties: dict | None = None, runtime_properties: dict | None = None,
                 relationship: bool = False, logger_name: str | None = None):
        self.resources = resources
        self.type = "relationship-instance" if relationship else "node-instance"
        self.deployment = Entity("dep1")
        self.blueprint = Entity("bp1")
        self.execution_id = "exec-1"
        self.workflow_id = "install"
        self.operation = Operation("cloudify.interfaces.lifecycle.create")
        self.handler = RecordingHandler()
        self.logger = logging.getLogger(logger_name or f"test.ctx.{id(self)}")
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.logger.addHandler(self.handler)
        node = Node(node_id, "cloudify.nodes.WebServer", properties or {})
        instance = Instance(instance_id, runtime_properties)
        if relationship:
            self._source = Side(node, instance)
            self._target = Side(Node("db", "cloudify.nodes.DBMS", {"port": 5432}), Instance("db_xyz789"))
        else:
            self._node, self._instance = node, instance

    def _only(self, kind: str) -> None:
        if (self.type == "node-instance") != (kind == "node"):
            raise NonRecoverableError(
                f"ctx.{'node/ctx.instance' if kind == 'node' else 'source/ctx.target'} can only be used in a "
                f"{'node-instance' if kind == 'node' else 'relationship-instance'} context but used in a "
                f"{self.type} context.")

    @property
    def node(self) -> Node:
        self._only("node")
        return self._node

    @property
    def instance(self) -> Instance:
        self._only("node")
        return self._instance

    @property
    def source(self) -> Side:
        self._only("relationship")
        return self._source

    @property
    def target(self) -> Side:
        self._only("relationship")
        return self._target

    @property
    def messages(self) -> list[str]:
        return [message for _, message in self.handler.records]

    def _resource(self, path: str) -> str:
        full = os.path.join(self.resources, path)
        if not os.path.isfile(full):
            raise HttpException(path, 404, f"Resource not found: {path}")
        return full

    def get_resource(self, path: str) -> bytes:
        with open(self._resource(path), "rb") as handle:
            return handle.read()

    def download_resource(self, path: str, target_path: str | None = None) -> str:
        source = self._resource(path)
        if target_path is None:
            handle, target_path = tempfile.mkstemp(suffix="-" + os.path.basename(path))
            os.close(handle)
        shutil.copyfile(source, target_path)
        return target_path

    def download_resource_and_render(self, path: str, target_path: str | None = None,
                                     template_variables: dict | None = None) -> str:
        target_path = self.download_resource(path, target_path)
        with open(target_path, encoding="utf-8") as handle:
            text = handle.read()
        for key, value in (template_variables or {}).items():
            text = text.replace("{{ " + key + " }}", str(value))
        with open(target_path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return target_path
