"""The script runner: resolution, process options, environment, streaming and outcomes."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest

from cfy_local.engine.exceptions import NonRecoverableError, OperationRetry, ProcessExecutionError
from cfy_local.engine.scripts import run
from scripthelpers import wait_for, write


def test_shell_script_output_is_logged_with_cloudify_texts(blueprint, make_ctx):
    write(blueprint, "scripts/create.sh", """
        #!/bin/bash
        echo "first line"
        echo "to stderr" >&2
        printf 'no newline at end'
    """)
    ctx = make_ctx()
    assert run(ctx, script_path="scripts/create.sh") is None
    messages = ctx.messages
    assert messages[1].startswith("Process created, PID: ")
    pid = messages[1].split(": ")[1]
    assert "<out> first line" in messages
    assert "<err> to stderr" in messages
    assert "<out> no newline at end" in messages
    done = [m for m in messages if m.startswith("Execution done")]
    assert len(done) == 1
    assert done[0].startswith(f"Execution done (PID={pid}, return_code=0): ")
    assert done[0].endswith("/create.sh")
    assert ("DEBUG", "Context proxy closed") in ctx.handler.records


def test_inputs_are_exported_with_cloudify_encoding(blueprint, make_ctx, tmp_path):
    out = tmp_path / "env.json"
    write(blueprint, "scripts/env.py", f"""
        import json, os
        names = ["text", "number", "ratio", "mapping", "items", "flag", "nothing", "OVERRIDDEN", "TMPDIR"]
        json.dump({{n: os.environ.get(n) for n in names}}, open({str(out)!r}, "w"))
    """)
    run(make_ctx(), script_path="scripts/env.py", text="hello world", number=5, ratio=3.5,
        mapping={"a": 1}, items=[1, "x"], flag=True, nothing=None, OVERRIDDEN="input",
        process={"env": {"OVERRIDDEN": {"from": "process"}}})
    env = json.loads(out.read_text())
    assert env["text"] == "hello world"
    assert env["number"] == "5"
    assert env["ratio"] == "3.5"
    assert json.loads(env["mapping"]) == {"a": 1}
    assert json.loads(env["items"]) == [1, "x"]
    assert env["flag"] == "true"
    assert env["nothing"] == "None"
    assert json.loads(env["OVERRIDDEN"]) == {"from": "process"}
    assert env["TMPDIR"]


def test_inputs_and_args_are_never_interpreted_by_a_shell(blueprint, make_ctx, tmp_path):
    marker = tmp_path / "pwned"
    out = tmp_path / "args.json"
    write(blueprint, "scripts/args.py", f"""
        import json, os, sys
        json.dump({{"argv": sys.argv[1:], "evil": os.environ["evil"]}}, open({str(out)!r}, "w"))
    """)
    evil = f"$(touch {marker}); `touch {marker}` && touch {marker}"
    run(make_ctx(), script_path="scripts/args.py", evil=evil, process={"args": [evil, "two words", 3]})
    result = json.loads(out.read_text())
    assert result == {"argv": [evil, "two words", "3"], "evil": evil}
    assert not marker.exists()


def test_process_cwd_and_command_prefix(blueprint, make_ctx, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    write(blueprint, "scripts/plain.txt", """
        pwd > where
        echo "$0 $1" > args
    """)
    run(make_ctx(), script_path="scripts/plain.txt",
        process={"cwd": str(workdir), "command_prefix": "/bin/bash", "args": ["one"]})
    assert (workdir / "where").read_text().strip() == str(workdir)
    assert (workdir / "args").read_text().strip().endswith("plain.txt one")


def test_missing_cwd_is_a_clear_error(blueprint, make_ctx, tmp_path):
    write(blueprint, "scripts/a.sh", "#!/bin/sh\ntrue\n")
    with pytest.raises(NonRecoverableError, match="process.cwd .*nowhere is not a directory"):
        run(make_ctx(), script_path="scripts/a.sh", process={"cwd": str(tmp_path / "nowhere")})


def test_scripts_without_shebang_run_with_a_shell_like_on_cloudify(blueprint, make_ctx):
    """.sh runs with bash; any other text file without a '#!' line runs with /bin/sh, as a
    shell handed the path by Cloudify's script runner does (utilities examples ship .txt
    scripts)."""
    write(blueprint, "scripts/noshebang.sh", 'ctx instance runtime-properties shell "$BASH_VERSION"\n')
    ctx = make_ctx()
    run(ctx, script_path="scripts/noshebang.sh")
    assert ctx.instance.runtime_properties["shell"]
    write(blueprint, "scripts/data.cfg", "ctx instance runtime-properties via sh\n")
    ctx = make_ctx()
    run(ctx, script_path="scripts/data.cfg")
    assert ctx.instance.runtime_properties["via"] == "sh"
    write(blueprint, "scripts/empty.txt", "")
    run(make_ctx(), script_path="scripts/empty.txt")


def test_executable_with_shebang_runs_directly_even_without_suffix(blueprint, make_ctx):
    write(blueprint, "scripts/configure", "#!/bin/sh\nctx instance runtime-properties via shebang\n", mode=0o644)
    ctx = make_ctx()
    run(ctx, script_path="scripts/configure")
    assert ctx.instance.runtime_properties["via"] == "shebang"


def test_powershell_is_refused_clearly(blueprint, make_ctx):
    write(blueprint, "scripts/setup.ps1", "Write-Host hi\n")
    with pytest.raises(NonRecoverableError, match="Cannot run PowerShell script setup.ps1 here"):
        run(make_ctx(), script_path="scripts/setup.ps1")


@pytest.mark.parametrize("path", ["../outside.sh", "scripts/../../outside.sh", "/etc/hostname"])
def test_script_paths_outside_the_blueprint_are_refused(blueprint, make_ctx, path):
    write(blueprint.parent, "outside.sh", "#!/bin/sh\ntouch ran\n")
    with pytest.raises(NonRecoverableError, match="outside the blueprint folder"):
        run(make_ctx(), script_path=path)


def test_missing_script_is_a_clear_error(make_ctx):
    with pytest.raises(NonRecoverableError, match="Script scripts/missing.sh was not found in the blueprint folder"):
        run(make_ctx(), script_path="scripts/missing.sh")


def test_script_path_and_source_are_exclusive_and_required(make_ctx):
    with pytest.raises(NonRecoverableError, match="Either script_path or script_source must be provided"):
        run(make_ctx())
    with pytest.raises(NonRecoverableError, match="Only provide script_path or script_source, not both"):
        run(make_ctx(), script_path="a.sh", script_source="echo hi")


def test_script_source_runs_as_shell_or_python(make_ctx):
    ctx = make_ctx()
    assert run(ctx, script_source="""
        ctx instance runtime-properties kind shell
        ctx returns done
    """) == "done"
    assert ctx.instance.runtime_properties["kind"] == "shell"
    assert run(ctx, script_source="""
        from cloudify import ctx
        ctx.instance.runtime_properties['kind'] = 'python'
        ctx.returns(7)
    """) == 7
    assert ctx.instance.runtime_properties["kind"] == "python"


def test_unsupported_proxy_type_and_bad_process(make_ctx):
    with pytest.raises(NonRecoverableError, match="Unsupported proxy type: zmq"):
        run(make_ctx(), script_source="true", process={"ctx_proxy_type": "zmq"})
    with pytest.raises(NonRecoverableError, match="The 'process' input must be a dictionary"):
        run(make_ctx(), script_source="true", process="cwd=/")


def test_proxy_type_none_gives_an_empty_socket_url(make_ctx):
    ctx = make_ctx()
    run(ctx, script_source='echo "url=[$CTX_SOCKET_URL]"', process={"ctx_proxy_type": "none"})
    assert "<out> url=[]" in ctx.messages


def test_non_zero_exit_fails_with_exit_code_and_last_stderr_lines(blueprint, make_ctx):
    write(blueprint, "scripts/fail.sh", """
        #!/bin/bash
        echo "some output"
        for i in $(seq 1 30); do echo "problem $i" >&2; done
        exit 3
    """)
    with pytest.raises(ProcessExecutionError) as info:
        run(make_ctx(), script_path="scripts/fail.sh")
    message = str(info.value)
    assert message.startswith("command: ")
    assert "exit_code: 3" in message
    assert "stdout: some output" in message
    assert "problem 30" in message and "problem 11" in message
    assert "problem 10\n" not in message   # only the last lines


def test_output_streams_while_the_script_runs(blueprint, make_ctx, tmp_path):
    go = tmp_path / "go"
    write(blueprint, "scripts/slow.sh", f"""
        #!/bin/bash
        echo "before"
        while [ ! -e {go} ]; do sleep 0.02; done
        echo "after"
    """)
    ctx = make_ctx()
    worker = threading.Thread(target=run, args=(ctx,), kwargs={"script_path": "scripts/slow.sh"})
    worker.start()
    try:
        wait_for(lambda: "<out> before" in ctx.messages, timeout=10, message="first line logged while running")
        assert "<out> after" not in ctx.messages
    finally:
        go.touch()
        worker.join(10)
    assert "<out> after" in ctx.messages


def test_script_runs_in_the_workers_process_group(blueprint, make_ctx):
    write(blueprint, "scripts/group.py", """
        import os
        ctx.instance.runtime_properties['pgid'] = os.getpgid(0)
        ctx.instance.runtime_properties['sid'] = os.getsid(0)
    """)
    ctx = make_ctx()
    run(ctx, script_path="scripts/group.py")
    assert ctx.instance.runtime_properties["pgid"] == os.getpgid(0)
    assert ctx.instance.runtime_properties["sid"] == os.getsid(0)


def test_background_child_holding_output_does_not_hang_the_operation(blueprint, make_ctx, tmp_path):
    pid_file = tmp_path / "bg.pid"
    write(blueprint, "scripts/daemon.sh", f"""
        #!/bin/bash
        sleep 60 &
        echo $! > {pid_file}
        echo "started"
    """)
    ctx = make_ctx()
    started = time.monotonic()
    try:
        run(ctx, script_path="scripts/daemon.sh")
        assert time.monotonic() - started < 10
        assert any("still holds its output open" in m for m in ctx.messages)
        assert "<out> started" in ctx.messages
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 9)


def test_ctx_after_the_operation_ended_is_a_clear_error(blueprint, make_ctx, tmp_path, ctx_client):
    rc_file = tmp_path / "rc"
    err_file = tmp_path / "err"
    write(blueprint, "scripts/late.sh", f"""
        #!/bin/bash
        (
          while ctx instance id > /dev/null 2>&1; do sleep 0.02; done
          ctx instance id 2> {err_file}.tmp; echo $? > {rc_file}.tmp
          mv {err_file}.tmp {err_file}; mv {rc_file}.tmp {rc_file}
        ) > /dev/null 2>&1 < /dev/null &
    """)
    run(make_ctx(), script_path="scripts/late.sh")
    wait_for(rc_file.exists, timeout=10, message="the late ctx call")
    assert rc_file.read_text().strip() == "1"
    assert "the operation has ended" in err_file.read_text()


def test_concurrent_operations_each_get_their_own_proxy(blueprint, make_ctx):
    write(blueprint, "scripts/who.sh", """
        #!/bin/bash
        for i in 1 2 3 4 5; do
          ctx instance runtime-properties "seen_$i" "$(ctx instance id)"
        done
        ctx returns "$(ctx instance id)"
    """)
    contexts = [make_ctx(instance_id=f"web_{n}") for n in range(6)]
    results: dict[str, object] = {}

    def one(ctx):
        results[ctx.instance.id] = run(ctx, script_path="scripts/who.sh")

    threads = [threading.Thread(target=one, args=(ctx,)) for ctx in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for ctx in contexts:
        assert results[ctx.instance.id] == ctx.instance.id
        assert {ctx.instance.runtime_properties[f"seen_{i}"] for i in range(1, 6)} == {ctx.instance.id}


def test_abort_fails_without_retry_even_on_exit_zero(make_ctx):
    with pytest.raises(NonRecoverableError) as info:
        run(make_ctx(), script_source='ctx abort-operation "disk is full"\nexit 0\n')
    assert str(info.value) == "disk is full"


def test_retry_operation_with_retry_after(make_ctx):
    with pytest.raises(OperationRetry) as info:
        run(make_ctx(), script_source='ctx retry-operation "not ready yet" @5\n')
    assert info.value.retry_after == 5
    assert str(info.value).startswith("not ready yet")


def test_returning_twice_is_non_recoverable(make_ctx):
    ctx = make_ctx()
    with pytest.raises(NonRecoverableError, match="ctx may only abort or return once"):
        run(ctx, script_source='ctx returns one\nctx returns two || echo "second failed $?"\n')
    assert "<out> second failed 1" in ctx.messages


def test_abort_wins_over_a_failing_exit_code(make_ctx):
    with pytest.raises(NonRecoverableError, match="^bad config$"):
        run(make_ctx(), script_source='ctx abort-operation "bad config"\nexit 7\n')


def test_returns_typed_values(make_ctx):
    assert run(make_ctx(), script_source="ctx returns @'{\"x\": [1, 2]}' @'{}'\n") == {"x": [1, 2]}
    assert run(make_ctx(), script_source="ctx returns @42\n") == 42
    assert run(make_ctx(), script_source="ctx returns 'plain text'\n") == "plain text"
    assert run(make_ctx(), script_source="echo no result\n") is None


def test_stderr_to_stdout_and_unlogged_streams(make_ctx):
    ctx = make_ctx()
    run(ctx, script_source="echo out\necho err >&2\n", process={"stderr_to_stdout": True})
    assert "<out> err" in ctx.messages and "<out> out" in ctx.messages
    ctx = make_ctx()
    run(ctx, script_source="echo quiet\n", process={"log_stdout": False})
    assert not any(m.startswith("<out>") for m in ctx.messages)


def test_no_temporary_files_are_left(make_ctx, tmp_path, monkeypatch):
    exec_temp = tmp_path / "exec"
    exec_temp.mkdir()
    monkeypatch.setenv("CFY_EXEC_TEMP", str(exec_temp))
    ctx = make_ctx()
    run(ctx, script_source='echo "$TMPDIR"\n')
    with pytest.raises(ProcessExecutionError):
        run(make_ctx(), script_source="exit 1\n")
    assert list(exec_temp.iterdir()) == []


def test_unusable_environment_values_are_a_clear_error(make_ctx):
    with pytest.raises(NonRecoverableError, match="Cannot start the script: .*embedded null byte"):
        run(make_ctx(), script_source="true\n", bad="a\0b")


def test_python_commands_are_shown_without_the_boot_helper(make_ctx):
    ctx = make_ctx()
    run(ctx, script_source="print('hi')\n")
    done = [m for m in ctx.messages if m.startswith("Execution done")][0]
    assert "_cfy_local_script_boot" not in done and done.endswith("/script.py")


def test_long_exec_temp_keeps_the_socket_short(make_ctx, tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setenv("CFY_EXEC_TEMP", str(deep))
    ctx = make_ctx()
    assert run(ctx, script_source='ctx returns "$(ctx instance id)"\n') == "web_abc123"
    assert list(deep.iterdir()) == []


def test_waiting_message_while_a_script_runs_long(make_ctx, tmp_path, monkeypatch):
    from cfy_local.engine.scripts import script_runner
    monkeypatch.setattr(script_runner, "WAITING_LOG_INTERVAL", 0.1)
    go = tmp_path / "go"
    ctx = make_ctx()
    worker = threading.Thread(target=run, args=(ctx,),
                              kwargs={"script_source": f"while [ ! -e {go} ]; do sleep 0.02; done\n"})
    worker.start()
    try:
        pid = wait_for(lambda: next((m.split(": ")[1] for m in ctx.messages if m.startswith("Process created")), None),
                       timeout=10, message="the script to start")
        wait_for(lambda: f"Waiting for process {pid} to end..." in ctx.messages, timeout=10,
                 message="the waiting message")
    finally:
        go.touch()
        worker.join(10)
    assert not worker.is_alive()


def test_ctx_commands_are_rebuilt_in_a_fresh_cache(make_ctx, tmp_path, monkeypatch):
    from cfy_local.engine.scripts import native
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(native, "_resolved", {})
    monkeypatch.setattr(native, "_command_dirs", {})
    folder = native.command_dir()
    assert folder is not None and folder.startswith(str(tmp_path / "cache"))
    assert oct(os.stat(tmp_path / "cache" / "cfy-local").st_mode & 0o777) == "0o700"
    assert run(make_ctx(), script_source='ctx returns "$(ctx node id)"\n') == "web"
    if os.path.islink(os.path.join(folder, "ctx")):   # native client: delete it, a new process rebuilds it
        os.unlink(os.path.realpath(os.path.join(folder, "ctx")))
        monkeypatch.setattr(native, "_resolved", {})
        monkeypatch.setattr(native, "_command_dirs", {})
        assert run(make_ctx(), script_source='ctx returns "$(ctx node id)"\n') == "web"


def test_script_from_http_and_file_urls(make_ctx, tmp_path):
    import functools
    import http.server

    served = tmp_path / "served"
    served.mkdir()
    write(served, "remote.sh", "#!/bin/bash\nctx returns \"remote $(ctx instance id)\"\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert run(make_ctx(), script_path=f"{base}/remote.sh") == "remote web_abc123"
        with pytest.raises(NonRecoverableError, match=f"Failed downloading script: {base}/nope.sh \\(status code: 404\\)"):
            run(make_ctx(), script_path=f"{base}/nope.sh")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert run(make_ctx(), script_path=f"file://{served}/remote.sh") == "remote web_abc123"
    with pytest.raises(NonRecoverableError, match="Script not found: file://"):
        run(make_ctx(), script_path=f"file://{served}/missing.sh")


def test_work_folders_of_dead_workers_are_swept(make_ctx, tmp_path, monkeypatch):
    import subprocess
    import sys

    from cfy_local.engine.scripts import script_runner
    exec_temp = tmp_path / "exec"
    exec_temp.mkdir()
    monkeypatch.setenv("CFY_EXEC_TEMP", str(exec_temp))
    monkeypatch.setattr(script_runner, "_swept", threading.Event())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    abandoned = exec_temp / f"cfy-script-{dead_pid}-abcd1234"
    abandoned.mkdir()
    (abandoned / "script.sh").write_text("echo left behind\n")
    alive = exec_temp / f"cfy-script-{os.getppid()}-efgh5678"
    alive.mkdir()
    unrelated = exec_temp / "other-folder"
    unrelated.mkdir()
    run(make_ctx(), script_source="echo sweeping\n")
    assert sorted(path.name for path in exec_temp.iterdir()) == sorted([alive.name, unrelated.name])
