"""State-store safety: torn writes, full disks, corrupt records, planted symlinks, modes.

The kill test forks a writer and SIGKILLs it at random moments (``CFY_RELIABILITY_ATOMIC_KILLS``,
default 200); the full-disk tests mount a real 1 MB tmpfs when this machine allows it (root)
and otherwise make ``os.write`` fail with ENOSPC for the record write path only.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import uuid

import pytest

from cfy_local.errors import CorruptRecordError, StorageError
from cfy_local.executions import records as execution_records
from cfy_local.store import event_log, locks, versioned
from cfy_local.store.paths import Home
from reliability_support import (CORPUS, cfy_run, env_int, must, run_harness, scan_state, tree_fingerprint,
                                 upload_base, wait_quiet)

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ATOMIC_KILLS = env_int("CFY_RELIABILITY_ATOMIC_KILLS", 200)


def test_killed_writer_never_leaves_a_torn_record(tmp_path):
    folder = tmp_path / "records"
    summary = run_harness("atomic", str(folder), str(ATOMIC_KILLS), "7", timeout=180)
    assert summary["killed"] + summary["finished"] == ATOMIC_KILLS
    # A writer that loops forever can only end by the kill.
    assert summary["killed"] == ATOMIC_KILLS
    for name in ("a.json", "b.json", "c.json"):
        record = versioned.load_record(str(folder / name), "test")
        assert len(record["pad"]) == record["size"], f"{name} holds a torn record"
    # Killed writers leave at most their temp file; nothing that looks like a record.
    leftovers = [n for n in os.listdir(folder) if n not in ("a.json", "b.json", "c.json")]
    assert all(n.startswith(".tmp-") for n in leftovers), leftovers
    # Listings never take a temp file for a record.
    home = Home.open(str(tmp_path / "home"))
    os.makedirs(home.executions_dir, exist_ok=True)
    for n in leftovers[:3]:
        shutil.copy(folder / n, os.path.join(home.executions_dir, n))
    assert execution_records.load_all(home) == []


# --- full disk ------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A folder on a 1 MB tmpfs if we may mount one; else a folder where record writes hit
    ENOSPC once ``fill()`` is called. Yields (path, fill)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)],
                             capture_output=True).returncode == 0
    if mounted:
        def fill() -> None:
            with open(mount_point / "ballast", "wb", buffering=0) as fh:
                try:
                    while True:
                        fh.write(b"\0" * 4096)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
        try:
            yield mount_point, fill, True
        finally:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
    else:
        real_write = os.write

        def fill() -> None:
            # Only writes to temp files of the atomic writer fail: a full disk cannot be
            # produced here without privileges, and this is the path under test.
            def failing_write(fd, data):
                target = os.readlink(f"/proc/self/fd/{fd}")
                if os.path.basename(target).startswith(".tmp-") or target.endswith(".ndjson"):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return real_write(fd, data)
            monkeypatch.setattr(os, "write", failing_write)
        yield mount_point, fill, False


def test_full_disk_gives_clear_error_and_keeps_previous_state(small_disk):
    folder, fill, _ = small_disk
    home = Home.open(str(folder / "home"))
    record = execution_records.new_record(workflow_id="install", deployment_id="web", blueprint_id="bp")
    execution_records.save(home, record)
    before = tree_fingerprint(home.root)
    fill()
    changed = dict(record, status="started", error="x" * 300_000)
    with pytest.raises(StorageError, match=r"No space left on device while writing .*executions"):
        execution_records.save(home, changed)
    assert tree_fingerprint(home.root) == before
    assert execution_records.load(home, record["id"])["status"] == "pending"
    assert not [n for n in os.listdir(home.executions_dir) if n.startswith(".tmp-")]
    # The event log refuses with the same clear error instead of a traceback.
    with pytest.raises(StorageError, match="No space left on device"):
        with event_log.EventWriter(home.events_file(record["id"])) as writer:
            for _ in range(200):
                writer.write({"message": {"text": "y" * 10_000}})


@pytest.mark.parametrize("command", [
    ["maintenance-mode", "activate"],
    ["deployments", "create", "web2", "-b", "base"],
    ["executions", "start", "install", "-d", "web", "--no-wait"],
    ["deployments", "schedule", "create", "web", "install", "-s", "+1h", "-r", "1d"],
    ["secrets", "create", "k", "-s", "v"],
], ids=lambda c: "-".join(c[:2]))
def test_full_disk_through_the_cli(small_disk, command):
    """A real ``cfy`` process on a full disk: exit 1, a clear message, state unchanged."""
    folder, fill, mounted = small_disk
    if not mounted:
        pytest.skip("needs a real small filesystem (mount -t tmpfs as root); the in-process "
                    "ENOSPC injection above covers the write path")
    home = folder / "home"
    must(cfy_run(home, "blueprints", "upload", str(CORPUS / "base" / "blueprint.yaml"), "-b", "base"))
    must(cfy_run(home, "deployments", "create", "web", "-b", "base"))
    fill()
    before = tree_fingerprint(home)
    result = cfy_run(home, *command)
    assert result.exit_code == 1, result
    assert "No space left on device" in result.stderr, result
    assert "Traceback" not in result.stderr
    after = tree_fingerprint(home)
    # Previous state intact: every earlier file and folder as it was. A failed command may
    # leave only empty folders or empty files behind (a worker log opened before the record
    # write failed) — nothing that holds data or reads as a record.
    assert {path: after.get(path) for path in before} == before
    added = {path: entry for path, entry in after.items() if path not in before}
    assert [p for p, e in added.items() if e[0] == "file" and e[2] != EMPTY_SHA256] == [], added
    assert scan_state(home).problems == []


# --- corrupt records ------------------------------------------------------------------------

def test_corrupt_execution_record_is_named_and_others_stay_usable(tmp_path):
    home = Home.open(str(tmp_path / "home"))
    good = [execution_records.new_record(workflow_id="install", deployment_id=f"d{i}", blueprint_id="bp")
            for i in range(3)]
    for record in good:
        execution_records.save(home, record)
    bad_id = str(uuid.uuid4())
    bad_path = home.execution_file(bad_id)
    with open(bad_path, "w") as fh:
        fh.write('{"schema_version": 1, "id": "' + bad_id + '", "status": "star')
    with pytest.raises(CorruptRecordError) as info:
        execution_records.load(home, bad_id)
    assert bad_path in str(info.value)
    assert "\n" not in str(info.value)
    assert sorted(r["id"] for r in execution_records.load_all(home)) == sorted(r["id"] for r in good)
    # A status change on a good record still works while the bad one sits beside it.
    execution_records.set_status(home, good[0]["id"], "started")
    assert execution_records.load(home, good[0]["id"])["status"] == "started"


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b'{"id": "x"}', b"null",
                                     b'{"schema_version": "1"}', b'{"schema_version": 999}'])
def test_every_kind_of_corruption_is_a_clear_error(tmp_path, content):
    path = tmp_path / "rec.json"
    path.write_bytes(content)
    with pytest.raises(CorruptRecordError) as info:
        versioned.load_record(str(path), "deployment")
    assert str(path) in str(info.value)


# --- symlinks -------------------------------------------------------------------------------

def _precious(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("do not touch\n")
    return target


def test_symlink_at_lock_path_is_refused_and_target_untouched(tmp_path):
    root = tmp_path / "home"
    (root / "locks").mkdir(parents=True)
    target = _precious(tmp_path)
    (root / "locks" / "state.lock").symlink_to(target)
    with pytest.raises(StorageError, match="symlink at lock file"):
        with locks.lock(str(root), "state", timeout=1):
            pass
    with pytest.raises(StorageError, match="symlink at lock file"):
        locks.is_held(str(root), "state")
    assert target.read_text() == "do not touch\n"
    assert (root / "locks" / "state.lock").is_symlink()


def test_symlink_at_events_path_is_refused(tmp_path):
    home = Home.open(str(tmp_path / "home"))
    execution_id = str(uuid.uuid4())
    os.makedirs(home.run_dir(execution_id))
    target = _precious(tmp_path)
    os.symlink(target, home.events_file(execution_id))
    with pytest.raises(StorageError, match="symlink at events file"):
        event_log.EventWriter(home.events_file(execution_id))
    with pytest.raises(StorageError, match="symlink at events file"):
        event_log.append_events(home.events_file(execution_id), [{"x": 1}])
    with pytest.raises(CorruptRecordError, match="symlink at events file"):
        event_log.read_from(home.events_file(execution_id))
    assert target.read_text() == "do not touch\n"


def test_symlink_at_record_path_is_replaced_not_written_through(tmp_path):
    home = Home.open(str(tmp_path / "home"))
    target = _precious(tmp_path)
    record = execution_records.new_record(workflow_id="install", deployment_id="web", blueprint_id="bp")
    os.makedirs(home.executions_dir)
    os.symlink(target, home.execution_file(record["id"]))
    with pytest.raises(CorruptRecordError, match="symlink"):
        execution_records.load(home, record["id"])
    # Planted at a deployment record too: reading refuses, writing replaces the link.
    os.makedirs(home.deployment_dir("web"))
    os.symlink(target, home.deployment_file("web"))
    with pytest.raises(CorruptRecordError, match="symlink"):
        versioned.load_record(home.deployment_file("web"), "deployment")
    versioned.save_record(home.deployment_file("web"), {"id": "web"})
    assert not os.path.islink(home.deployment_file("web"))
    assert target.read_text() == "do not touch\n"


def test_symlinks_planted_in_a_live_home_through_the_cli(home, cfy_proc, tmp_path):
    """A real command meets planted links: one clear error, no traceback, target intact."""
    assert cfy_proc("init").exit_code == 0
    target = _precious(tmp_path)
    lock_file = home / "locks" / "state.lock"
    lock_file.parent.mkdir(exist_ok=True)
    if lock_file.exists():
        lock_file.unlink()
    lock_file.symlink_to(target)
    result = cfy_proc("maintenance-mode", "activate")
    assert result.exit_code == 1, result
    assert "symlink at lock file" in result.stderr
    assert "Traceback" not in result.stderr
    assert target.read_text() == "do not touch\n"
    lock_file.unlink()
    maintenance = home / "maintenance.json"
    maintenance.symlink_to(target)
    result = cfy_proc("maintenance-mode", "status")
    assert result.exit_code == 1, result
    assert "symlink" in result.stderr and "Traceback" not in result.stderr
    assert target.read_text() == "do not touch\n"


# --- permissions ----------------------------------------------------------------------------

def assert_private_tree(root) -> list[str]:
    """Every folder of the state 0700 and every file 0600 (uploaded resources aside)."""
    wrong = []
    root_mode = stat.S_IMODE(os.stat(root).st_mode)
    if root_mode != 0o700:
        wrong.append(f"{root}: {oct(root_mode)}")
    for folder, dirs, files in os.walk(root):
        if "resources" in os.path.relpath(folder, root).split(os.sep):
            dirs[:] = []
            continue
        for name in dirs:
            mode = stat.S_IMODE(os.lstat(os.path.join(folder, name)).st_mode)
            if mode != 0o700 and name != "resources":
                wrong.append(f"{os.path.join(folder, name)}: {oct(mode)}")
        for name in files:
            mode = stat.S_IMODE(os.lstat(os.path.join(folder, name)).st_mode)
            if mode != 0o600:
                wrong.append(f"{os.path.join(folder, name)}: {oct(mode)}")
    return wrong


def test_store_creates_private_folders_and_files_even_with_a_lax_umask(tmp_path):
    old = os.umask(0o000)
    try:
        home = Home.open(str(tmp_path / "home"))
        record = execution_records.new_record(workflow_id="install", deployment_id="web", blueprint_id="bp")
        execution_records.save(home, record)
        event_log.append_events(home.events_file(record["id"]), [{"x": 1}])
        with locks.lock(home.root, "state"):
            pass
        versioned.save_record(home.schedule_file("web", "install"), {"id": "install"})
    finally:
        os.umask(old)
    assert assert_private_tree(home.root) == []


def test_cli_commands_leave_a_private_tree(home, cfy_proc):
    old = os.umask(0o022)
    try:
        assert cfy_proc("init").exit_code == 0
        assert cfy_proc("maintenance-mode", "activate").exit_code == 0
        assert cfy_proc("maintenance-mode", "deactivate").exit_code == 0
        assert cfy_proc("scheduler", "run", "--once").exit_code == 0
    finally:
        os.umask(old)
    assert assert_private_tree(home) == []
    assert scan_state(home).problems == []


def _corrupt(path) -> None:
    with open(path, "r+b") as fh:
        data = fh.read()
        fh.seek(0)
        fh.truncate()
        fh.write(data[: len(data) // 2])  # what a hand edit gone wrong or a bad disk leaves


def test_corrupt_records_through_the_cli(home):
    """A corrupt record: every command that needs it names the file in one line; every other
    record stays usable; listings keep working."""
    upload_base(home)
    for dep in ("good", "bad"):
        must(cfy_run(home, "deployments", "create", dep, "-b", "base"))
        must(cfy_run(home, "deployments", "schedule", "create", dep, "install", "-s", "+1h", "-r", "1d"))
    runs = {dep: must(cfy_run(home, "executions", "start", "pause", "-d", dep, "-p", "seconds=0.01",
                                "--json", "--no-wait")).json["id"] for dep in ("good", "bad")}
    wait_quiet(home)
    bad_files = [home / "executions" / f"{runs['bad']}.json", home / "deployments" / "bad" / "deployment.json",
                 home / "schedules" / "bad" / "install.json"]
    for path in bad_files:
        _corrupt(path)

    def refused(*args, path):
        result = cfy_run(home, *args)
        assert result.exit_code == 1, (args, result)
        assert str(path) in result.stderr and "Traceback" not in result.stderr, (args, result)

    refused("executions", "get", runs["bad"], path=bad_files[0])
    refused("deployments", "outputs", "bad", path=bad_files[1])
    refused("deployments", "schedule", "get", "bad", "install", path=bad_files[2])
    must(cfy_run(home, "executions", "get", runs["good"]))
    must(cfy_run(home, "deployments", "outputs", "good"))
    must(cfy_run(home, "deployments", "schedule", "get", "good", "install"))
    must(cfy_run(home, "executions", "start", "pause", "-d", "good", "-p", "seconds=0.01", "--timeout", "60"))
    for listing in (["executions", "list"], ["deployments", "list"], ["deployments", "schedule", "list"],
                    ["scheduler", "run", "--once"], ["status"]):
        result = cfy_run(home, *listing)
        assert "Traceback" not in result.stderr, (listing, result)
        assert result.exit_code == 0 or any(str(p) in result.stderr for p in bad_files), (listing, result)


def test_symlinks_at_execution_and_events_paths_through_the_cli(home, tmp_path):
    upload_base(home)
    must(cfy_run(home, "deployments", "create", "web", "-b", "base"))
    run = must(cfy_run(home, "executions", "start", "pause", "-d", "web", "-p", "seconds=0.01", "--no-wait",
                       "--json")).json["id"]
    wait_quiet(home)
    target = _precious(tmp_path)
    events_file = home / "runs" / run / "events.ndjson"
    events_file.unlink()
    events_file.symlink_to(target)
    result = cfy_run(home, "events", "list", run)
    assert result.exit_code == 1 and "symlink" in result.stderr and "Traceback" not in result.stderr, result
    record = home / "executions" / f"{run}.json"
    record.unlink()
    record.symlink_to(target)
    result = cfy_run(home, "executions", "get", run)
    assert result.exit_code == 1 and "symlink" in result.stderr and "Traceback" not in result.stderr, result
    listing = cfy_run(home, "executions", "list")
    assert "Traceback" not in listing.stderr, listing
    assert target.read_text() == "do not touch\n"
    # A new run on the same deployment is not disturbed by the planted links.
    must(cfy_run(home, "executions", "start", "pause", "-d", "web", "-p", "seconds=0.01", "--timeout", "60"))
    assert target.read_text() == "do not touch\n"


def test_folder_reader_reads_whole_files_and_refuses_planted_links(tmp_path):
    # The batch reader the engine opens every instance file with at a workflow's start.
    from cfy_local.store.atomic import FolderReader

    home = Home.open(str(tmp_path / "home"))
    folder = os.path.join(home.root, "deployments", "d", "node-instances")
    os.makedirs(folder)
    big = {"id": "a_1", "runtime_properties": {"blob": "x" * 300_000}}
    versioned.save_record(os.path.join(folder, "a_1.json"), big)
    with open(os.path.join(folder, "b_2.json"), "w") as fh:
        fh.write('{"id": "b_2"}')
    secret = tmp_path / "secret.json"
    secret.write_text('{"stolen": true}')
    os.symlink(secret, os.path.join(folder, "c_3.json"))
    with FolderReader(folder) as reader:
        st, record = reader.read_json("b_2.json")
        assert record == {"id": "b_2"} and st.st_size == len('{"id": "b_2"}')
        assert reader.read_json("a_1.json")[1]["runtime_properties"]["blob"] == "x" * 300_000
        with pytest.raises(CorruptRecordError, match="symlink"):
            reader.read_json("c_3.json")
        with pytest.raises(FileNotFoundError):
            reader.read_json("missing.json")
    # A link planted at the folder itself is refused, not followed.
    real = os.path.join(home.root, "deployments", "d", "real-instances")
    os.rename(folder, real)
    os.symlink(real, folder)
    with pytest.raises(CorruptRecordError, match="symlink"):
        FolderReader(folder)
