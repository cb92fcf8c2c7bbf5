"""The ``ctx`` command: Cloudify's syntax, output formatting and exit codes,
with both the native and the Python client."""
from __future__ import annotations

import json

import pytest

from cfy_local.engine.exceptions import ProcessExecutionError
from cfy_local.engine.scripts import run
from scripthelpers import write


def ctx_lines(make_ctx, script: str, **ctx_options) -> tuple[list[str], object]:
    """Run a bash script; return its stdout lines (as logged) and the ctx."""
    ctx = make_ctx(**ctx_options)
    run(ctx, script_source="#!/bin/bash\n" + script)
    return [m[len("<out> "):] for m in ctx.messages if m.startswith("<out> ")], ctx


def test_context_values(make_ctx, ctx_client):
    lines, _ = ctx_lines(make_ctx, """
        echo "node=$(ctx node id)|$(ctx node name)|$(ctx node type)"
        echo "instance=$(ctx instance id)"
        echo "deployment=$(ctx deployment id) blueprint=$(ctx blueprint id)"
        echo "execution=$(ctx execution-id) workflow=$(ctx workflow-id) type=$(ctx type)"
        echo "op=$(ctx operation name) retry=$(ctx -j operation retry_number) plain=[$(ctx operation retry_number)]"
    """)
    assert lines == [
        "node=web|web|cloudify.nodes.WebServer",
        "instance=web_abc123",
        "deployment=dep1 blueprint=bp1",
        "execution=exec-1 workflow=install type=node-instance",
        "op=cloudify.interfaces.lifecycle.create retry=0 plain=[]",
    ]


def test_node_properties_paths_and_formatting(make_ctx, ctx_client):
    lines, _ = ctx_lines(make_ctx, """
        echo "all=$(ctx -j node properties)"
        echo "port=$(ctx node properties port)"
        echo "nested=$(ctx node properties a.b[1])"
        echo "dict=$(ctx node properties a)"
        echo "flag=$(ctx node properties flag) json=$(ctx node properties flag -j)"
        out=$(ctx node properties missing.key 2>&1); echo "rc=$? $out"
    """, properties={"port": 8080, "a": {"b": [1, "two"]}, "flag": True})
    assert json.loads(lines[0].split("=", 1)[1]) == {"port": 8080, "a": {"b": [1, "two"]}, "flag": True}
    assert lines[1:5] == ["port=8080", "nested=two", "dict={'b': [1, 'two']}", "flag=True json=true"]
    assert lines[5] == "rc=1 ctx: RuntimeError: illegal path: missing.key"


def test_runtime_properties_set_and_get(make_ctx, ctx_client):
    lines, ctx = ctx_lines(make_ctx, """
        ctx instance runtime-properties text 1
        ctx instance runtime-properties number @1
        ctx instance runtime-properties obj @'{"k": [1, 2]}'
        ctx instance runtime-properties nothing @null
        ctx instance runtime-properties deep.er.path value
        echo "text=$(ctx instance runtime-properties text)"
        echo "deep=$(ctx instance runtime-properties deep.er.path)"
        echo "all=$(ctx -j instance runtime-properties)"
        out=$(ctx instance runtime-properties absent 2>&1); echo "$out rc=$?"
    """)
    props = ctx.instance.runtime_properties
    assert props == {"text": "1", "number": 1, "obj": {"k": [1, 2]}, "nothing": None, "deep": {"er": {"path": "value"}}}
    assert props.dirty
    assert lines[:2] == ["text=1", "deep=value"]
    assert json.loads(lines[2].split("=", 1)[1]) == props
    assert lines[3] == "ctx: RuntimeError: illegal path: absent rc=1"


def test_options_anywhere_and_custom_prefix(make_ctx, ctx_client):
    lines, ctx = ctx_lines(make_ctx, """
        ctx instance runtime-properties --json-arg-prefix % n %7
        echo "n=$(ctx instance -j runtime-properties n)"
        ctx --timeout 5 instance runtime-properties at @'"text"'
        echo "at=$(ctx -- instance runtime-properties at)"
        out=$(ctx instance runtime-properties bad @not-json 2>&1); echo "$out rc=$?"
    """)
    assert ctx.instance.runtime_properties["n"] == 7
    assert lines[:2] == ["n=7", "at=text"]
    assert lines[2].startswith("ctx: argument '@not-json' is not valid JSON after '@'") and lines[2].endswith(" rc=1")


def test_logger_levels(make_ctx, ctx_client):
    _, ctx = ctx_lines(make_ctx, """
        ctx logger info "an info"
        ctx logger warning "a warning"
        ctx logger error "an error"
        ctx logger debug "a debug"
    """)
    records = ctx.handler.records
    for level, text in [("INFO", "an info"), ("WARNING", "a warning"), ("ERROR", "an error"), ("DEBUG", "a debug")]:
        assert (level, text) in records


def test_download_resource_and_render(blueprint, make_ctx, tmp_path, ctx_client):
    write(blueprint, "resources/app.conf", "port={{ port }}\n")
    target = tmp_path / "rendered.conf"
    lines, _ = ctx_lines(make_ctx, f"""
        copy=$(ctx download-resource resources/app.conf)
        echo "copy=$(cat "$copy")"
        rm -f "$copy"
        echo "target=$(ctx download-resource resources/app.conf {tmp_path}/copy.conf)"
        ctx download-resource-and-render resources/app.conf {target} @'{{"template_variables": {{"port": 81}}}}' > /dev/null
        out=$(ctx download-resource nope.txt 2>&1); echo "$out rc=$?"
    """)
    assert lines[0] == "copy=port={{ port }}"
    assert lines[1] == f"target={tmp_path}/copy.conf"
    assert target.read_text() == "port=81\n"
    assert lines[2].startswith("ctx: HttpException:") and "Resource not found: nope.txt" in lines[2]
    assert lines[2].endswith(" rc=1")


def test_get_resource_bytes_fail_like_cloudify(blueprint, make_ctx, ctx_client):
    write(blueprint, "resources/data.bin", "x")
    lines, _ = ctx_lines(make_ctx, 'out=$(ctx get-resource resources/data.bin 2>&1); echo "$out rc=$?"\n')
    assert lines == ["ctx: TypeError: Object of type bytes is not JSON serializable rc=1"]


def test_unknown_sub_command_and_help(make_ctx, ctx_client):
    lines, _ = ctx_lines(make_ctx, """
        out=$(ctx no-such-thing 2>&1); echo "$out rc=$?"
        ctx --help | head -n 1
        out=$(ctx 2>&1); echo "$out rc=$?"
    """)
    assert lines[0] == "ctx: RuntimeError: no-such-thing cannot be processed in ['no-such-thing'] rc=1"
    assert lines[1].startswith("usage: ctx ")
    assert lines[2] == "ctx: no arguments given (try: ctx --help) rc=1"


def test_relationship_operations(make_ctx, ctx_client):
    lines, ctx = ctx_lines(make_ctx, """
        echo "source=$(ctx source instance id) target=$(ctx target node properties port)"
        ctx source instance runtime-properties linked "$(ctx target instance id)"
        out=$(ctx instance id 2>&1); echo "$out rc=$?"
    """, relationship=True)
    assert lines[0] == "source=web_abc123 target=5432"
    assert ctx.source.instance.runtime_properties["linked"] == "db_xyz789"
    assert lines[1] == ("ctx: NonRecoverableError: ctx.node/ctx.instance can only be used in a node-instance "
                        "context but used in a relationship-instance context. rc=1")


def test_abort_and_retry_print_the_message_and_exit_1(make_ctx, ctx_client):
    ctx = make_ctx()
    with pytest.raises(Exception) as info:
        run(ctx, script_source='#!/bin/bash\nctx abort-operation "giving up"; echo "rc=$?"\n')
    assert str(info.value) == "giving up"
    assert "<out> rc=1" in ctx.messages


def test_wrong_token_is_refused(make_ctx, ctx_client):
    lines, _ = ctx_lines(make_ctx, 'out=$(CFY_LOCAL_CTX_TOKEN=forged ctx instance id 2>&1); echo "$out rc=$?"\n')
    assert lines == ["ctx: invalid or missing ctx proxy token rc=1"]


def test_ctx_sh_ends_the_script_on_failure(make_ctx, ctx_client):
    ctx = make_ctx()
    with pytest.raises(ProcessExecutionError, match="exit_code: 1"):
        run(ctx, script_source='#!/bin/bash\n. ctx-sh\nctx node properties missing\necho "not reached"\n')
    assert "<out> not reached" not in ctx.messages


def test_missing_socket_url(make_ctx, ctx_client):
    lines, _ = ctx_lines(make_ctx, 'out=$(env -u CTX_SOCKET_URL ctx instance id 2>&1); echo "$out rc=$?"\n')
    assert lines == ["ctx: Missing CTX_SOCKET_URL environment variable or socket_url command line argument rc=1"]
