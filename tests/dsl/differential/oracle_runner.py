"""Run by the oracle venv's python (Cloudify's own dsl_parser), never imported by cfy-local.

argv: <bundled types.yaml> <cases folder>. Every sub-folder of the cases folder is one case:
``blueprint.yaml`` (and the files it imports), ``_inputs.json`` (deployment inputs) and
``_secrets.json`` (the secrets that exist). Prints one JSON object: case name -> outcome.
"""
import json
import os
import re
import signal
import sys
import traceback

import yaml

from dsl_parser import exceptions, functions, parser, tasks
from dsl_parser.import_resolver.abstract_import_resolver import AbstractImportResolver, read_import

TYPES_URL = re.compile(r"^https?://(www\.)?(cloudify\.co|getcloudify\.org)/spec/cloudify/[^/]+/types\.yaml$")


OBJECT_TYPES_1_4 = {"blueprint_id", "deployment_id", "capability_value", "scaling_group", "node_id", "node_type",
                    "node_instance", "secret_key"}


def types_for_version(text, version):
    """The bundled types as Cloudify's manager serves them to a blueprint of ``version``
    (it keeps types_1_3.yaml / types_1_4.yaml without what later DSL versions added)."""
    types = yaml.safe_load(text)
    minor = int(str(version).rsplit("_", 1)[-1]) if version else 5
    types["tosca_definitions_version"] = f"cloudify_dsl_1_{min(minor, 5)}"

    def strip(value):
        if isinstance(value, dict):
            if minor < 4:
                value.pop("availability_rules", None)
                if value.get("type") in OBJECT_TYPES_1_4 and isinstance(value.get("type"), str):
                    value.pop("type")
                if isinstance(value.get("item_type"), str):
                    value.pop("item_type")
            if minor < 5 and value.get("type") == "operation_name":
                value.pop("type")
            for child in value.values():
                strip(child)
        elif isinstance(value, list):
            for child in value:
                strip(child)

    strip(types)
    return yaml.safe_dump(types)


class BundledTypesResolver(AbstractImportResolver):
    """Cloudify's types.yaml URL -> the file cfy-local bundles; everything else as usual."""

    def __init__(self, types_path):
        with open(types_path) as fh:
            self.text = fh.read()
        self.by_version = {}

    def resolve(self, import_url):
        raise exceptions.DSLParsingLogicException(13, f"Import failed: no network access for {import_url}")

    def fetch_import(self, import_url, dsl_version=None, **kwargs):
        if TYPES_URL.match(import_url) or re.match(r"^resource:cloudify/types/types(_1_[345])?\.yaml$", import_url):
            key = str(dsl_version)
            if key not in self.by_version:
                self.by_version[key] = types_for_version(self.text, dsl_version)
            return self.by_version[key]
        return read_import(import_url)

    def retrieve_plugin(self, import_url, **kwargs):
        return None  # no plugin catalog: plugins come with the blueprint


class NotFound(Exception):
    status_code = 404


def _kind(exc):
    if isinstance(exc, (exceptions.MissingRequiredInputError, exceptions.UnknownInputError,
                        exceptions.InputEvaluationError, exceptions.ConstraintException,
                        exceptions.DSLParsingInputTypeException)):
        return "inputs"
    if isinstance(exc, exceptions.UnknownSecretError):
        return "secret"
    if isinstance(exc, exceptions.DSLParsingException) and getattr(exc, "err_code", None) == \
            exceptions.ERROR_INPUT_VIOLATES_DATA_TYPE_SCHEMA:
        return "inputs"
    return "invalid"


def run_case(folder, resolver):
    main = os.path.join(folder, "blueprint.yaml")
    try:
        plan = parser.parse_from_path(main, resolver=resolver, resources_base_path=folder)
    except Exception as exc:  # noqa: BLE001 - every refusal is an outcome
        return {"stage": "upload", "kind": _kind(exc), "error": f"{type(exc).__name__}: {exc}"[:400]}
    inputs = {}
    if os.path.exists(os.path.join(folder, "_inputs.json")):
        with open(os.path.join(folder, "_inputs.json")) as fh:
            inputs = json.load(fh)
    secrets = []
    if os.path.exists(os.path.join(folder, "_secrets.json")):
        with open(os.path.join(folder, "_secrets.json")) as fh:
            secrets = json.load(fh)

    def get_secret(key):
        if key not in secrets:
            raise NotFound(key)
        return secrets[key] if isinstance(secrets, dict) else "x"

    runtime_only = os.path.exists(os.path.join(folder, "_runtime_only"))
    try:
        dep = tasks.prepare_deployment_plan(plan, get_secret, inputs=inputs, runtime_only_evaluation=runtime_only)
    except Exception as exc:  # noqa: BLE001
        return {"stage": "create", "kind": _kind(exc), "error": f"{type(exc).__name__}: {exc}"[:400]}
    instances = {}
    for ni in dep["node_instances"]:
        instances[ni["node_id"]] = instances.get(ni["node_id"], 0) + 1
    nodes = {}
    for node in dep["nodes"]:
        nodes[node["id"]] = {
            "instances": instances.get(node["id"], 0),
            "properties": node["properties"],
            "operations": {name: op.get("inputs") or {} for name, op in (node.get("operations") or {}).items()
                           if "." in name},
            "relationships": sorted(([r["type"], r["target_id"], r.get("properties") or {}]
                                     for r in node.get("relationships") or []), key=json.dumps),
        }
    outputs = {name: out.get("value") for name, out in (dep.get("outputs") or {}).items()}
    capabilities = {name: c.get("value") for name, c in (dep.get("capabilities") or {}).items()}
    groups = {name: g["properties"] for name, g in (dep.get("scaling_groups") or {}).items()}
    return {"stage": "ok", "nodes": nodes, "outputs": outputs, "capabilities": capabilities, "scaling_groups": groups,
            "inputs": dep.get("inputs")}


CASE_SECONDS = 20


class CaseTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout()


def main():
    signal.signal(signal.SIGALRM, _on_alarm)
    types_path, cases = sys.argv[1], sys.argv[2]
    resolver = BundledTypesResolver(types_path)
    out = {}
    for name in sorted(os.listdir(cases)):
        folder = os.path.join(cases, name)
        if not os.path.isdir(folder):
            continue
        signal.alarm(CASE_SECONDS)
        try:
            out[name] = run_case(folder, resolver)
        except CaseTimeout:
            out[name] = {"stage": "crash", "error": f"Cloudify's parser took over {CASE_SECONDS}s"}
        except Exception:  # noqa: BLE001 - a crash of the oracle is reported, not hidden
            out[name] = {"stage": "crash", "error": traceback.format_exc()[-800:]}
        finally:
            signal.alarm(0)
    json.dump(out, sys.stdout, default=str)


main()
