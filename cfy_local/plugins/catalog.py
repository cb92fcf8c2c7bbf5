"""The plugin catalog, as on a Cloudify Manager: uploaded plugins and their environments.

A record per plugin lives in ``plugins/<id>/plugin.json`` (schema_version'd) next to the
plugin's YAML files and, for a wagon, the archive itself. Each plugin is installed into its
own virtualenv, ``plugin-envs/<package_name>/<package_version>/`` — the manager's
``<plugins root>/<tenant>/<package_name>/<package_version>`` — so two plugins with
conflicting pins both work. A wagon installs offline from the wheels it carries; a plugin
source folder or a requirement spec (a local convenience) installs through pip.

Uploading builds the environment in a staging folder first and registers the plugin under
the ``plugins`` lock only when everything succeeded, so a failed upload leaves nothing
behind. Deleting is refused while an uploaded blueprint uses the plugin, unless forced.
"""
from __future__ import annotations

import json
import os
import re
import sys
import uuid
from typing import Any, Callable

from cfy_local import clock
from cfy_local.errors import CfyLocalError, ConflictError, NotFoundError, ValidationError
from cfy_local.store.atomic import atomic_write_bytes, ensure_dir
from cfy_local.store.locks import lock
from cfy_local.store.paths import Home
from cfy_local.store.versioned import CorruptRecordError, load_record, save_record
from cfy_local.timefmt import iso

KIND = "plugin"
LOCK = "plugins"
ENV_STAMP = ".cfy-local-env.json"
PLUGIN_COLUMNS = ["id", "package_name", "package_version", "distribution", "distribution_release",
                  "installed on", "uploaded_at", "visibility", "tenant_name", "created_by", "yaml_url_path"]
GET_DATA_COLUMNS = ["file_server_path", "supported_platform", "supported_py_versions"]
PIP_TIMEOUT = 1800
LEFTOVER_AGE = 6 * 3600  # an upload or delete killed half-way leaves its folder; older ones go

Progress = Callable[[str], None]
# Blueprint upload imports this module (for ``plugin:`` imports): the archive, subprocess
# and packaging modules are imported by the functions that use them, off that path.


class PluginInstallError(CfyLocalError):
    """Installing a plugin's environment failed; nothing was registered."""


# -- where things live -------------------------------------------------------------------------

def plugins_dir(home: Home) -> str:
    return home.path("plugins")


def plugin_dir(home: Home, plugin_id: str) -> str:
    _check_id(plugin_id)
    return os.path.join(plugins_dir(home), plugin_id)


def envs_dir(home: Home) -> str:
    return home.path("plugin-envs")


def env_dir(home: Home, package_name: str, package_version: str) -> str:
    return os.path.join(envs_dir(home), _safe_part(package_name), _safe_part(package_version))


def env_python(folder: str) -> str:
    return os.path.join(folder, "bin", "python")


def _safe_part(text: str) -> str:
    text = str(text)
    if not text or text in (".", "..") or not re.fullmatch(r"[A-Za-z0-9._+!-]+", text):
        raise ValidationError(f"`{text}` cannot name a plugin environment folder")
    return text


def _check_id(plugin_id: str) -> None:
    if not isinstance(plugin_id, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", plugin_id):
        raise NotFoundError(f"Requested `Plugin` with ID `{plugin_id}` was not found")


# -- reading the catalog -------------------------------------------------------------------------

def _view(record: dict) -> dict:
    """The record as the REST API shows it, with the computed fields."""
    out = {k: v for k, v in record.items() if k != "schema_version"}
    if record.get("yaml_files"):
        out["yaml_url_path"] = (f"plugin:{record['package_name']}?version={record['package_version']}"
                                f"&distribution={record.get('distribution')}")
    else:
        out["yaml_url_path"] = ""
    installed = sum(1 for s in record.get("installation_state") or [] if s.get("state") == "installed")
    errors = sum(1 for s in record.get("installation_state") or [] if s.get("state") == "error")
    parts = ([f"{installed} managers"] if installed else []) + ([f"{errors} errors"] if errors else [])
    out["installed on"] = ", ".join(parts)
    out["file_server_path"] = record.get("archive_name") or ""
    return out


def _load(home: Home, plugin_id: str) -> dict:
    try:
        return load_record(os.path.join(plugin_dir(home, plugin_id), "plugin.json"), KIND)
    except FileNotFoundError:
        raise NotFoundError(f"Requested `Plugin` with ID `{plugin_id}` was not found") from None


def get_plugin(home: Home, plugin_id: str) -> dict:
    return _view(_load(home, plugin_id))


def _records(home: Home) -> list[dict]:
    try:
        names = sorted(os.listdir(plugins_dir(home)))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.startswith("."):
            continue
        try:
            out.append(load_record(os.path.join(plugins_dir(home), name, "plugin.json"), KIND))
        except (FileNotFoundError, NotADirectoryError, CorruptRecordError):
            continue
    return out


def list_plugins(home: Home, *, sort_by: str = "uploaded_at", descending: bool = False,
                 search: str | None = None, **filters: Any) -> list[dict]:
    rows = [_view(r) for r in _records(home)]
    if search:
        rows = [r for r in rows if search in (r.get("package_name") or "")]
    for key, value in filters.items():
        if value is not None:
            rows = [r for r in rows if r.get(key) == value]
    rows.sort(key=lambda r: (r.get(sort_by) is None, str(r.get(sort_by) or "")), reverse=descending)
    return rows


def yaml_path(home: Home, plugin: dict, name: str) -> str:
    return os.path.join(plugin_dir(home, plugin["id"]), "yaml", name)


def environment_of(home: Home, package_name: str, package_version: str | None = None) -> str | None:
    """The virtualenv of an uploaded plugin (the newest version when none is given), or None."""
    rows = [r for r in _records(home) if r.get("package_name") == package_name
            and (package_version is None or str(r.get("package_version")) == str(package_version))]
    if not rows:
        return None
    best = max(rows, key=lambda r: _version_key(r.get("package_version")))
    folder = env_dir(home, best["package_name"], best["package_version"])
    return folder if os.path.exists(os.path.join(folder, ENV_STAMP)) else None


def _version_key(version: Any):
    from packaging.version import InvalidVersion, Version

    try:
        return (1, Version(str(version)), "")
    except InvalidVersion:
        return (0, None, str(version))


# -- what is being uploaded ----------------------------------------------------------------------

def read_wagon_metadata(path: str) -> dict:
    """The ``package.json`` of a wagon (a tar.gz or zip whose top folder holds it)."""
    import tarfile
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/package.json")]
                if not names:
                    raise ValueError("no package.json in the archive's top folder")
                return json.loads(archive.read(names[0]).decode("utf-8"))
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if member.isfile() and member.name.count("/") == 1 and member.name.endswith("/package.json"):
                    return json.loads(archive.extractfile(member).read().decode("utf-8"))
        raise ValueError("no package.json in the archive's top folder")
    except (OSError, ValueError, tarfile.TarError, zipfile.BadZipFile, KeyError) as exc:
        raise ValidationError(f"The provided wagon archive can not be read.\n{type(exc).__name__}: {exc}") from None


def validate_wagon(path: str) -> dict:
    """What ``cfy plugins validate`` checks: a readable wagon with the metadata a manager needs."""
    if not os.path.isfile(path):
        raise ValidationError(f"Plugin archive {path} does not exist")
    metadata = read_wagon_metadata(path)
    missing = [key for key in ("package_name", "package_version", "wheels", "supported_platform")
               if not metadata.get(key)]
    if missing:
        raise ValidationError(f"The provided wagon archive is invalid: its package.json lacks {', '.join(missing)}")
    return metadata


def _extract_wagon(path: str, into: str) -> str:
    """Unpack the wagon (refusing members outside the folder); the folder holding wheels/."""
    import tarfile
    import zipfile

    base = os.path.realpath(into)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    target = os.path.realpath(os.path.join(base, name))
                    if not target.startswith(base + os.sep):
                        raise ValidationError(f"The wagon {path} has a member outside its folder: {name}")
                archive.extractall(base)
        else:
            with tarfile.open(path, "r:*") as archive:
                archive.extractall(base, filter="data")
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise ValidationError(f"The provided wagon archive can not be read.\n{type(exc).__name__}: {exc}") from None
    for entry in os.listdir(base):
        wheels = os.path.join(base, entry, "wheels")
        if os.path.isdir(wheels):
            return wheels
    raise ValidationError(f"The wagon {path} has no wheels folder")


def _read_yamls(paths: list[str]) -> list[tuple[str, str, dict]]:
    """(file name, path, content) of each plugin YAML given with -y."""
    if not paths:
        raise ValidationError("Missing option '-y' / '--yaml-path': a plugin needs its plugin.yaml")
    out, seen = [], set()
    for path in paths:
        if not os.path.isfile(path):
            raise ValidationError(f"Plugin YAML {path} does not exist")
        name = os.path.basename(path)
        if not name.endswith(".yaml"):
            raise ValidationError(f"Plugin YAML {path} must be a .yaml file")
        if name in seen:
            raise ValidationError(f"Two plugin YAML files are named {name}")
        seen.add(name)
        import yaml

        try:
            with open(path, encoding="utf-8") as fh:
                content = yaml.safe_load(fh)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ValidationError(f"Plugin YAML {path} is not valid YAML: {exc}") from None
        if not isinstance(content, dict):
            raise ValidationError(f"Plugin YAML {path} must be a YAML mapping")
        out.append((name, path, content))
    return out


def _extras(yamls: list[tuple[str, str, dict]]) -> dict:
    """blueprint_labels, labels and resource_tags, read from the first ``plugin.``-named YAML."""
    chosen = next((y for y in yamls if "plugin." in y[0]), yamls[0])[2]

    def flat(labels):
        if not isinstance(labels, dict):
            return {}
        return {k: list((v or {}).get("values") or []) if isinstance(v, dict) else v for k, v in labels.items()}

    return {"blueprint_labels": flat(chosen.get("blueprint_labels")), "labels": flat(chosen.get("labels")),
            "resource_tags": chosen.get("resource_tags") or {}}


def _os_properties() -> dict:
    """This machine's distribution, as wagon records the build server's."""
    import platform

    info: dict[str, str] = {}
    try:
        with open("/etc/os-release", encoding="utf-8") as fh:
            for line in fh:
                key, sep, value = line.strip().partition("=")
                if sep:
                    info[key] = value.strip('"')
    except OSError:
        pass
    return {"distribution": (info.get("ID") or platform.system()).lower(),
            "distribution_version": info.get("VERSION_ID") or "",
            "distribution_release": (info.get("VERSION_CODENAME") or "").lower()}


# -- building an environment -----------------------------------------------------------------------

def _run(cmd: list[str], what: str, progress: Progress, env: dict | None = None) -> str:
    import subprocess

    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PluginInstallError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout or "").strip().splitlines()[-15:])
        raise PluginInstallError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _base_python() -> str:
    """The interpreter a plugin environment is made from: cfy-local's own Python."""
    return sys.executable


def _pip(venv: str) -> list[str]:
    # pip of cfy-local's environment drives the plugin's interpreter (``--python``), so plugin
    # environments need no pip of their own and are created in a fraction of a second.
    return [sys.executable, "-m", "pip", "--python", env_python(venv), "--disable-pip-version-check"]


def _make_env(folder: str, progress: Progress) -> None:
    progress("Creating the plugin's virtualenv...")
    _run([_base_python(), "-m", "venv", "--without-pip", folder], "Creating the plugin's virtualenv", progress)


def _install(venv: str, args: list[str], what: str, progress: Progress) -> dict:
    """pip install into the venv; the installed distributions from pip's report."""
    report = os.path.join(venv, ".pip-report.json")
    progress(f"Installing {what}...")
    _run(_pip(venv) + ["install", "--report", report, *args], f"Installing {what}", progress)
    try:
        with open(report, encoding="utf-8") as fh:
            data = json.load(fh)
    finally:
        try:
            os.unlink(report)
        except FileNotFoundError:
            pass
    return data


def _requested(report: dict) -> tuple[str, str] | None:
    for item in report.get("install") or []:
        if item.get("requested"):
            meta = item.get("metadata") or {}
            return meta.get("name"), meta.get("version")
    return None


def _installed_version(venv: str, name: str, progress: Progress) -> str | None:
    code = ("import importlib.metadata as m, sys\n"
            "try: print(m.version(sys.argv[1]))\n"
            "except m.PackageNotFoundError: pass\n")
    out = _run([env_python(venv), "-c", code, name], "Reading the installed version", progress).strip()
    return out or None


def _fix_scripts(folder: str, old: str, new: str) -> None:
    """Console scripts name their interpreter by absolute path: point them at the moved env."""
    bin_dir = os.path.join(folder, "bin")
    for name in os.listdir(bin_dir):
        path = os.path.join(bin_dir, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            head = fh.read(2)
            if head != b"#!":
                continue
            data = b"#!" + fh.read()
        if old.encode() in data:
            atomic_write_bytes(path, data.replace(old.encode(), new.encode()), durable=False)
            os.chmod(path, 0o755)


# -- upload / delete --------------------------------------------------------------------------------

def _remove_leftovers(home: Home) -> None:
    """Staging and trash folders of uploads and deletes that were killed half-way."""
    import shutil
    import time

    for folder, prefixes in ((envs_dir(home), (".staging-", ".wagon-", ".deleting-")),
                             (plugins_dir(home), (".upload-", ".deleting-"))):
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                old = time.time() - os.lstat(path).st_mtime > LEFTOVER_AGE
            except FileNotFoundError:
                continue
            if name.startswith(prefixes) and old and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)


def _classify(path: str) -> str:
    if os.path.isfile(path):
        return "wagon"
    if os.path.isdir(path):
        if not any(os.path.isfile(os.path.join(path, n)) for n in ("setup.py", "pyproject.toml", "setup.cfg")):
            raise ValidationError(f"Plugin source folder {path} has no setup.py or pyproject.toml: pip cannot "
                                  f"install it")
        return "source"
    from packaging.requirements import InvalidRequirement, Requirement

    if re.match(r"^https?://", path):
        if path.split("?", 1)[0].endswith((".wgn", ".tar.gz", ".zip")):
            raise ValidationError(f"cfy-local does not download wagons: download {path} and upload the file")
        return "spec"
    try:
        Requirement(path)
    except InvalidRequirement:
        raise ValidationError(
            f"Plugin path {path} is neither a wagon, a plugin source folder nor a requirement spec "
            f"(e.g. my-plugin==1.0)") from None
    if os.sep in path:
        raise ValidationError(f"Plugin path {path} does not exist")
    return "spec"


def upload_plugin(home: Home, path: str, yaml_paths: list[str], *, title: str | None = None,
                  visibility: str = "tenant", progress: Progress | None = None) -> dict:
    """Install a plugin into its own environment and register it; return its record (view)."""
    import shutil
    import tempfile

    progress = progress or (lambda message: None)
    if visibility not in ("private", "tenant", "global"):
        raise ValidationError(f"Invalid visibility: `{visibility}`. Valid visibility's values are: "
                              f"['private', 'tenant', 'global']")
    yamls = _read_yamls(list(yaml_paths))
    kind = _classify(path)
    metadata: dict = {}
    if kind == "wagon":
        metadata = validate_wagon(path)
        _refuse_duplicate(home, metadata["package_name"], str(metadata["package_version"]),
                          dict(metadata.get("build_server_os_properties") or {}))
    ensure_dir(envs_dir(home))
    _remove_leftovers(home)
    staging = os.path.join(envs_dir(home), f".staging-{uuid.uuid4().hex[:12]}")
    try:
        _make_env(staging, progress)
        if kind == "wagon":
            name, version = metadata["package_name"], str(metadata["package_version"])
            with tempfile.TemporaryDirectory(dir=envs_dir(home), prefix=".wagon-") as unpacked:
                progress(f"Unpacking wagon {os.path.basename(path)}...")
                wheels = _extract_wagon(path, unpacked)
                _install(staging, ["--no-index", "--find-links", wheels, f"{name}=={version}"],
                         f"{name} {version} from the wagon's wheels (offline)", progress)
            os_props = dict(metadata.get("build_server_os_properties") or {})
        else:
            target = os.path.abspath(path) if kind == "source" else path
            report = _install(staging, [target], f"{os.path.basename(path.rstrip(os.sep)) or path} with pip", progress)
            found = _requested(report)
            if not found:
                raise PluginInstallError(f"pip installed nothing for {path}")
            name, version = found
            if version is None:
                version = _installed_version(staging, name, progress)
            os_props = _os_properties()
        progress(f"Registering {name} {version}...")
        record = _register(home, staging, yamls, path, kind, name, str(version), metadata, os_props,
                           title, visibility)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"Plugin uploaded. Plugin's id is {record['id']}")
    return _view(record)


def _refuse_duplicate(home: Home, name: str, version: str, os_props: dict) -> None:
    """The manager's unique key: package name, version and distribution (name, version, release)."""
    wanted = {"package_name": name, "package_version": version, "distribution": os_props.get("distribution"),
              "distribution_release": os_props.get("distribution_release"),
              "distribution_version": os_props.get("distribution_version")}
    for other in _records(home):
        if all(other.get(k) == v for k, v in wanted.items()):
            raise ConflictError(f"Plugin {name} {version} ({wanted['distribution']}) is already uploaded: "
                                f"its id is {other['id']}")


def _register(home: Home, staging: str, yamls, path, kind, name, version, metadata, os_props, title,
              visibility) -> dict:
    import shutil

    plugin_id = str(uuid.uuid4())
    record = {
        "id": plugin_id, "title": title or name, "package_name": name, "package_version": version,
        "archive_name": metadata.get("archive_name") or (os.path.basename(path) if kind == "wagon" else ""),
        "package_source": metadata.get("package_source") or path, "source_kind": kind,
        "supported_platform": metadata.get("supported_platform") or "any",
        "supported_py_versions": metadata.get("supported_python_versions")
        or [f"py{sys.version_info[0]}{sys.version_info[1]}"],
        "distribution": os_props.get("distribution"), "distribution_version": os_props.get("distribution_version"),
        "distribution_release": os_props.get("distribution_release"),
        "wheels": metadata.get("wheels") or [], "excluded_wheels": metadata.get("excluded_wheels") or [],
        "uploaded_at": iso(clock.now()), "visibility": visibility, "tenant_name": "default_tenant",
        "created_by": "admin", "yaml_files": sorted(y[0] for y in yamls),
        "installation_state": [{"state": "installed", "manager": "localhost", "agent": None, "error": None}],
        **_extras(yamls),
    }
    ensure_dir(plugins_dir(home))
    record_staging = os.path.join(plugins_dir(home), f".upload-{plugin_id}")
    ensure_dir(os.path.join(record_staging, "yaml"))
    try:
        for file_name, source, _ in yamls:
            shutil.copyfile(source, os.path.join(record_staging, "yaml", file_name))
        if kind == "wagon":
            shutil.copyfile(path, os.path.join(record_staging, os.path.basename(path)))
        with lock(home.root, LOCK):
            _refuse_duplicate(home, name, version, os_props)
            target_env = env_dir(home, name, version)
            if not os.path.exists(os.path.join(target_env, ENV_STAMP)):
                if os.path.exists(target_env):
                    shutil.rmtree(target_env)  # leftovers of an interrupted upload
                ensure_dir(os.path.dirname(target_env))
                os.rename(staging, target_env)
                _fix_scripts(target_env, staging, target_env)
                atomic_write_bytes(os.path.join(target_env, ENV_STAMP),
                                   json.dumps({"package_name": name, "package_version": version,
                                               "created_for": plugin_id}).encode("utf-8"))
            save_record(os.path.join(record_staging, "plugin.json"), record)
            os.rename(record_staging, plugin_dir(home, plugin_id))
    except BaseException:
        shutil.rmtree(record_staging, ignore_errors=True)
        raise
    return record


def blueprints_using(home: Home, plugin: dict) -> list[str]:
    """Ids of uploaded blueprints whose plan declares this plugin's package name and version."""
    out = []
    try:
        names = sorted(os.listdir(home.blueprints_dir))
    except FileNotFoundError:
        return out
    for blueprint_id in names:
        if blueprint_id.startswith("."):
            continue
        try:
            plan = load_record(os.path.join(home.blueprint_dir(blueprint_id), "plan.json"), "plan")
        except (FileNotFoundError, NotADirectoryError, CorruptRecordError, ValidationError):
            continue
        for declared in (plan.get("plugins") or {}).values():
            if declared.get("package_name") == plugin["package_name"] and (
                    declared.get("package_version") in (None, plugin["package_version"])):
                out.append(blueprint_id)
                break
    return out


def delete_plugin(home: Home, plugin_id: str, *, force: bool = False) -> None:
    import shutil

    with lock(home.root, LOCK):
        record = _load(home, plugin_id)
        users = blueprints_using(home, record)
        if users and not force:
            raise ConflictError(f'Plugin "{plugin_id}" is currently in use in blueprints: {", ".join(users)}. '
                                f'You can "force" plugin removal if needed.')
        folder = plugin_dir(home, plugin_id)
        trash = os.path.join(plugins_dir(home), f".deleting-{plugin_id}")
        os.rename(folder, trash)
        still_used = any(r.get("package_name") == record["package_name"]
                         and r.get("package_version") == record["package_version"] for r in _records(home))
        env = env_dir(home, record["package_name"], record["package_version"])
        if not still_used and os.path.isdir(env):
            env_trash = os.path.join(envs_dir(home), f".deleting-{uuid.uuid4().hex[:12]}")
            os.rename(env, env_trash)
        else:
            env_trash = None
    shutil.rmtree(trash, ignore_errors=True)
    if env_trash:
        shutil.rmtree(env_trash, ignore_errors=True)
