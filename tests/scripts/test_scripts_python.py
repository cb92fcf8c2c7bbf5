"""Python script operations: ``from cloudify import ctx``, a bare ``ctx``, ``ctx_parameters``
and cloudify.exceptions behave as with Cloudify's script plugin."""
from __future__ import annotations

import json
import os
import sys

import pytest

from cfy_local.engine.exceptions import (NonRecoverableError, OperationRetry, ProcessExecutionError,
                                         RecoverableError)
from cfy_local.engine.scripts import run
from scripthelpers import write


def test_cloudify_ctx_reads_and_writes_the_operation_context(blueprint, make_ctx):
    write(blueprint, "scripts/configure.py", """
        from cloudify import ctx
        from cloudify.state import ctx_parameters as inputs

        ctx.logger.info("configuring %s on port %d", ctx.node.id, ctx.node.properties["port"])
        props = ctx.instance.runtime_properties
        props["url"] = "http://localhost:{0}".format(ctx.node.properties["port"])
        props["greeting"] = inputs["greeting"]
        props["via_attribute"] = inputs.greeting
        props.update({"a": 1, "b": [1, 2]})
        del props["a"]
        assert "url" in props and "a" not in props
        assert sorted(props.keys()) == ["b", "greeting", "url", "via_attribute"]
        assert props.get("missing", "default") == "default"
        assert dict(ctx.node.properties) == {"port": 8080, "nested": {"k": "v"}}
        assert ctx.node.properties["nested"] == {"k": "v"}
        assert ctx.instance.id == "web_abc123" and ctx.deployment.id == "dep1"
        assert ctx.type == "node-instance"
        assert ctx.operation.retry_number == 0
        ctx.returns({"done": True})
    """)
    ctx = make_ctx(properties={"port": 8080, "nested": {"k": "v"}})
    result = run(ctx, script_path="scripts/configure.py", greeting="hi")
    assert result == {"done": True}
    assert ctx.instance.runtime_properties == {"url": "http://localhost:8080", "greeting": "hi",
                                               "via_attribute": "hi", "b": [1, 2]}
    assert ctx.instance.runtime_properties.dirty
    assert ("INFO", "configuring web on port 8080") in ctx.handler.records


def test_bare_ctx_argv_file_and_script_folder(blueprint, make_ctx, tmp_path):
    out = tmp_path / "out.json"
    write(blueprint, "scripts/bare.py", f"""
        import json, os, sys
        json.dump({{"argv": sys.argv, "file": __file__, "path0": sys.path[0], "name": __name__,
                   "id": ctx.instance.id}}, open({str(out)!r}, "w"))
    """)
    run(make_ctx(), script_path="scripts/bare.py", process={"args": ["x", "y"]})
    seen = json.loads(out.read_text())
    assert seen["argv"][1:] == ["x", "y"]
    assert os.path.basename(seen["argv"][0]) == "bare.py" and seen["file"] == seen["argv"][0]
    assert seen["path0"] == os.path.dirname(seen["file"])
    assert seen["name"] == "__main__"
    assert seen["id"] == "web_abc123"


def test_download_resource_and_relationships(blueprint, make_ctx):
    write(blueprint, "resources/config.txt", "value\n")
    write(blueprint, "scripts/link.py", """
        from cloudify import ctx
        path = ctx.download_resource("resources/config.txt")
        ctx.source.instance.runtime_properties["config"] = open(path).read().strip()
        ctx.source.instance.runtime_properties["target_port"] = ctx.target.node.properties["port"]
        try:
            ctx.instance.id
        except Exception as err:
            ctx.source.instance.runtime_properties["error"] = str(err)
    """)
    ctx = make_ctx(relationship=True)
    run(ctx, script_path="scripts/link.py")
    props = ctx.source.instance.runtime_properties
    assert props["config"] == "value"
    assert props["target_port"] == 5432
    assert props["error"].startswith("ctx.node/ctx.instance can only be used in a node-instance context")


def test_missing_key_raises_key_error_in_the_script(blueprint, make_ctx):
    write(blueprint, "scripts/keys.py", """
        from cloudify import ctx
        try:
            ctx.node.properties["nope"]
        except KeyError as err:
            ctx.returns("KeyError: {0}".format(err.args[0]))
    """)
    assert run(make_ctx(), script_path="scripts/keys.py") == "KeyError: nope"


def test_abort_and_retry_from_python(blueprint, make_ctx):
    write(blueprint, "scripts/abort.py", "from cloudify import ctx\nctx.abort_operation('no way')\n")
    with pytest.raises(NonRecoverableError, match="^no way$"):
        run(make_ctx(), script_path="scripts/abort.py")
    write(blueprint, "scripts/retry.py", "from cloudify import ctx\nctx.retry_operation('later', 15)\n")
    with pytest.raises(OperationRetry) as info:
        run(make_ctx(), script_path="scripts/retry.py")
    assert info.value.retry_after == 15


def test_second_return_raises_inside_the_script(blueprint, make_ctx):
    write(blueprint, "scripts/twice.py", """
        from cloudify import ctx
        ctx.returns(1)
        try:
            ctx.returns(2)
        except RuntimeError as err:
            print("caught:", err)
    """)
    ctx = make_ctx()
    with pytest.raises(NonRecoverableError, match="ctx may only abort or return once"):
        run(ctx, script_path="scripts/twice.py")
    assert "<out> caught: ctx may only abort or return once" in ctx.messages


@pytest.mark.parametrize("statement, expected, retry_after", [
    ("raise NonRecoverableError('broken for good')", NonRecoverableError, None),
    ("raise RecoverableError('try again', retry_after=7)", RecoverableError, 7),
    ("raise OperationRetry('soon', retry_after=2)", OperationRetry, 2),
])
def test_cloudify_exceptions_keep_their_meaning(blueprint, make_ctx, statement, expected, retry_after):
    write(blueprint, "scripts/raise.py", f"""
        from cloudify.exceptions import NonRecoverableError, RecoverableError, OperationRetry
        {statement}
    """)
    ctx = make_ctx()
    with pytest.raises(expected) as info:
        run(ctx, script_path="scripts/raise.py")
    assert type(info.value) is expected
    assert getattr(info.value, "retry_after", None) == retry_after
    assert any("Traceback" in m for m in ctx.messages)


def test_other_exceptions_are_process_errors(blueprint, make_ctx):
    write(blueprint, "scripts/boom.py", "raise ValueError('boom')\n")
    with pytest.raises(ProcessExecutionError) as info:
        run(make_ctx(), script_path="scripts/boom.py")
    assert "exit_code: 1" in str(info.value)
    assert "ValueError: boom" in str(info.value)


def test_logger_exception_and_non_json_arguments(blueprint, make_ctx):
    write(blueprint, "scripts/log.py", """
        from cloudify import ctx
        ctx.logger.warning("object %r", object.__name__)
        try:
            1 / 0
        except ZeroDivisionError:
            ctx.logger.exception("it failed")
    """)
    ctx = make_ctx()
    run(ctx, script_path="scripts/log.py")
    assert ("WARNING", "object 'object'") in ctx.handler.records
    errors = [text for level, text in ctx.handler.records if level == "ERROR"]
    assert errors and errors[0].startswith("it failed\nTraceback") and "ZeroDivisionError" in errors[0]


def test_shim_is_not_visible_to_the_worker():
    """The `cloudify` shim must never shadow a real cloudify package in cfy-local's own process."""
    assert not any(path.endswith(os.path.join("scripts", "shim")) for path in sys.path)
