"""Deployment modifications: ``ctx.deployment.start_modification(nodes)`` in a custom workflow
(a blueprint whose workflows live in its plugin source folder), the records a manager keeps,
and the built-in ``scale`` going through the same core."""
from __future__ import annotations

from cfy_local.deployments import modifications
from cfy_local.deployments.records import load_deployment, load_nodes
from cfy_local.errors import ModificationAlreadyEndedError

OPS = """
from cloudify import ctx as op_ctx
from cloudify.decorators import operation, workflow
from cloudify.manager import get_rest_client
from cloudify.plugins import lifecycle


@operation
def count(**kwargs):
    props = op_ctx.instance.runtime_properties
    key = op_ctx.operation.name.rsplit('.', 1)[-1]
    props[key] = props.get(key, 0) + 1


@operation
def link(**kwargs):
    props = op_ctx.source.instance.runtime_properties
    key = op_ctx.operation.name.rsplit('.', 1)[-1]
    props[key] = sorted(props.get(key, []) + [op_ctx.target.instance.id])


def _split(nodes):
    changed_and_related = set(nodes.node_instances)
    changed = set(i for i in changed_and_related if i.modification in ('added', 'removed'))
    return changed, changed_and_related - changed


@workflow
def resize(ctx, node_id, delta, fail=False, **kwargs):
    node = ctx.get_node(node_id)
    modification = ctx.deployment.start_modification(
        {node_id: {'instances': node.number_of_instances + delta}})
    ctx.logger.info('modification ' + modification.id)
    graph = ctx.graph_mode()
    try:
        if delta > 0:
            added, related = _split(modification.added)
            ctx.logger.info('added ' + ','.join(sorted(i._node_instance.id for i in added)))
            ctx.logger.info('related ' + ','.join(sorted(i.id for i in related)))
            lifecycle.install_node_instances(graph=graph, node_instances=added, related_nodes=related)
        else:
            removed, related = _split(modification.removed)
            ctx.logger.info('removed ' + ','.join(sorted(i.id for i in removed)))
            lifecycle.uninstall_node_instances(graph=graph, node_instances=removed, related_nodes=related)
        if fail:
            raise RuntimeError('asked to fail')
    except Exception:
        modification.rollback()
        raise
    modification.finish()
    return modification.id


@workflow
def start_twice(ctx, **kwargs):
    ctx.deployment.start_modification({'app': {'instances': 2}})
    started = [m.id for m in ctx.deployment.list_started_modifications()]
    ctx.logger.info('started ' + ','.join(started))
    listed = get_rest_client().deployment_modifications.list(deployment_id=ctx.deployment.id)
    ctx.logger.info('listed ' + ','.join(m.id + ':' + m.status for m in listed))
    one = get_rest_client().deployment_modifications.get(started[0])
    ctx.logger.info('added by rest ' + ','.join(
        i.id for i in one.node_instances.added_and_related if i.modification == 'added'))
    ctx.deployment.start_modification({'app': {'instances': 3}})
"""

LIFECYCLE = """
      cloudify.interfaces.lifecycle:
        create: p.PKG.ops.count
        start: p.PKG.ops.count
        stop: p.PKG.ops.count
        delete: p.PKG.ops.count
"""

VM_AND_APP = """
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties:
      agent_config: {install_method: none}
    interfaces:
""" + LIFECYCLE + """
  app:
    type: cloudify.nodes.Root
    interfaces:
""" + LIFECYCLE + """
    relationships:
      - type: cloudify.relationships.contained_in
        target: vm
"""

BODY = VM_AND_APP + """
  client:
    type: cloudify.nodes.Root
    interfaces:
""" + LIFECYCLE + """
    relationships:
      - type: cloudify.relationships.connected_to
        target: app
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish: p.PKG.ops.link
            unlink: p.PKG.ops.link
workflows:
  resize:
    mapping: p.PKG.ops.resize
    parameters:
      node_id: {default: app}
      delta: {default: 1}
      fail: {default: false}
  start_twice: p.PKG.ops.start_twice
"""


def _installed(env):
    env.deploy(BODY, OPS)
    outcome = env.run("install")
    assert outcome.error is None, outcome.error
    return env.by_node("app")[0], env.by_node("client")[0]


def test_scale_out_installs_the_added_instance_and_finishes(env):
    app, client = _installed(env)
    outcome = env.run("resize", {"delta": 1})
    assert outcome.error is None, outcome.error
    apps = env.by_node("app")
    new = next(i for i in apps if i["id"] != app["id"])
    assert len(apps) == 2 and new["state"] == "started"
    assert new["runtime_properties"] == {"create": 1, "start": 1}
    assert f"added {new['id']}" in outcome.texts()
    vm = env.by_node("vm")[0]
    assert f"related {','.join(sorted([client['id'], vm['id']]))}" in outcome.texts()
    # only the added instance ran its lifecycle; the related client established its new link
    assert {who for who, op in outcome.ops_started() if ".interfaces.lifecycle." in op} == {new["id"]}
    client_now = env.by_node("client")[0]
    assert client_now["runtime_properties"]["establish"] == sorted([app["id"], new["id"]])
    assert sorted(r["target_id"] for r in client_now["relationships"]) == sorted([app["id"], new["id"]])

    [record] = modifications.list_modifications(env.home, "dep")
    assert record["id"] == outcome.result
    assert record["status"] == "finished" and record["ended_at"]
    assert record["modified_nodes"] == {"app": {"instances": 2}}
    assert record["context"]["workflow_id"] == "resize"
    assert record["context"]["execution_id"] == outcome.execution_id
    views = {i["id"]: i for i in record["node_instances"]["added_and_related"]}
    assert views[new["id"]]["modification"] == "added"
    assert "modification" not in views[client["id"]]
    # a related instance holds only its edges towards the changed instances
    assert [r["target_id"] for r in views[client["id"]]["relationships"]] == [new["id"]]
    assert views[vm["id"]]["relationships"] == []
    assert {i["id"] for i in record["node_instances"]["before_modification"]} == {app["id"], client["id"], vm["id"]}
    assert modifications.get_modification(env.home, record["id"]) == record


def test_a_failed_modification_rolls_back_to_the_instances_before_it(env):
    app, client = _installed(env)
    outcome = env.run("resize", {"delta": 1, "fail": True})
    assert "asked to fail" in outcome.error
    assert [i["id"] for i in env.by_node("app")] == [app["id"]]
    client_now = env.by_node("client")[0]
    assert [r["target_id"] for r in client_now["relationships"]] == [app["id"]]
    # runtime properties and states as they were before the modification started
    assert client_now["runtime_properties"] == client["runtime_properties"]
    assert client_now["state"] == "started"
    [record] = modifications.list_modifications(env.home, "dep")
    assert record["status"] == "rolledback"
    assert len(record["node_instances"]["before_rollback"]) == 4
    nodes = {n["id"]: n for n in load_nodes(env.home, "dep")}
    assert nodes["app"]["number_of_instances"] == 1
    # ended modifications cannot end again
    try:
        modifications.finish_modification(env.home, record["id"])
    except ModificationAlreadyEndedError as exc:
        assert f"Cannot finish deployment modification: {record['id']}. It is already in rolledback status." \
            == str(exc)
    else:
        raise AssertionError("finishing a rolled back modification was accepted")


def test_scale_in_uninstalls_the_removed_instance_and_finish_deletes_it(env):
    app, client = _installed(env)
    assert env.run("resize", {"delta": 1}).error is None
    newest = max(env.by_node("app"), key=lambda i: i["index"])
    outcome = env.run("resize", {"delta": -1})
    assert outcome.error is None, outcome.error
    assert f"removed {newest['id']}" in outcome.texts()
    assert [i["id"] for i in env.by_node("app")] == [app["id"]]
    assert {who for who, op in outcome.ops_started() if ".interfaces.lifecycle." in op} == {newest["id"]}
    client_now = env.by_node("client")[0]
    assert client_now["runtime_properties"]["unlink"] == [newest["id"]]
    assert [r["target_id"] for r in client_now["relationships"]] == [app["id"]]
    assert [m["status"] for m in modifications.list_modifications(env.home, "dep")] == ["finished", "finished"]


def test_only_one_started_modification_at_a_time(env):
    _installed(env)
    outcome = env.run("start_twice")
    started = modifications.list_modifications(env.home, "dep", modifications.STARTED)
    assert len(started) == 1
    assert f"started {started[0]['id']}" in outcome.texts()
    assert f"listed {started[0]['id']}:started" in outcome.texts()
    new = [i["id"] for i in env.by_node("app") if i["index"] == 2]
    assert f"added by rest {new[0]}" in outcome.texts()
    assert ("Cannot start deployment modification while there are existing started deployment "
            f"modifications. Currently started deployment modifications: ['{started[0]['id']}']") in outcome.error
    # the built-in scale is refused the same way until the started one ends
    refused = env.run("scale", {"scalable_entity_name": "app", "delta": 1})
    assert "Cannot start deployment modification" in refused.error
    modifications.rollback_modification(env.home, started[0]["id"])
    assert len(env.by_node("app")) == 1
    assert env.run("scale", {"scalable_entity_name": "app", "delta": 1}).error is None
    assert len(env.by_node("app")) == 2


GROUP_BODY = VM_AND_APP + """
groups:
  pair:
    members: [vm]
policies:
  pair_policy:
    type: cloudify.policies.scaling
    properties:
      default_instances: 1
    targets: [pair]
"""


def _group_count(env):
    return load_deployment(env.home, "dep")["scaling_groups"]["pair"]["properties"]


def test_builtin_scale_of_a_group_is_a_modification_of_group_instances(env):
    env.deploy(GROUP_BODY, OPS)
    assert env.run("install").error is None
    out = env.run("scale", {"scalable_entity_name": "pair", "delta": 1})
    assert out.error is None, out.error
    vms, apps = env.by_node("vm"), env.by_node("app")
    assert len(vms) == 2 and len(apps) == 2
    assert {i["state"] for i in vms + apps} == {"started"}
    group_ids = {g["id"] for vm in vms for g in vm["scaling_groups"] if g["name"] == "pair"}
    assert len(group_ids) == 2
    assert _group_count(env)["current_instances"] == 2 and _group_count(env)["planned_instances"] == 2
    [record] = modifications.list_modifications(env.home, "dep")
    assert record["status"] == "finished" and record["modified_nodes"] == {"pair": {"instances": 2}}
    assert any(f"Deployment modification started. [modification_id={record['id']}]" == t for t in out.texts())
    down = env.run("scale", {"scalable_entity_name": "pair", "delta": -1})
    assert down.error is None, down.error
    assert len(env.by_node("vm")) == 1 and len(env.by_node("app")) == 1
    assert _group_count(env)["current_instances"] == 1


def test_builtin_scale_out_failure_rolls_the_modification_back(env):
    body = BODY.replace("        start: p.PKG.ops.count\n", "        start: p.PKG.ops.missing\n")
    env.deploy(body.split("  client:")[0], OPS)
    env.run("install")
    before = env.instances()
    out = env.run("scale", {"scalable_entity_name": "app", "delta": 1})
    assert out.error is not None
    texts = out.texts()
    assert "Scale out failed, scaling back in." in texts
    [record] = modifications.list_modifications(env.home, "dep")
    assert f"Rolling back deployment modification. [modification_id={record['id']}]" in texts
    assert record["status"] == "rolledback"
    assert set(env.instances()) == set(before)


def test_rest_deployment_modifications_with_the_real_rest_client(env):
    """``cfy serve`` answers cloudify-rest-client's ``deployment_modifications`` calls."""
    import json
    import textwrap

    from cloudify_oracle import run_oracle
    from cfy_local.rest.server import serve_in_thread

    app, _client = _installed(env)
    running = serve_in_thread(env.home, token="mod-token")
    try:
        script = textwrap.dedent(f"""
            import json
            from cloudify_rest_client import CloudifyClient
            from cloudify_rest_client.exceptions import CloudifyClientError
            client = CloudifyClient(host="127.0.0.1", port={running.port}, token="mod-token",
                                    tenant="default_tenant")
            started = client.deployment_modifications.start("dep", {{"app": {{"instances": 2}}}},
                                                            context={{"why": "test"}})
            added = [i.id for i in started.node_instances.added_and_related if i.get("modification") == "added"]
            try:
                client.deployment_modifications.start("dep", {{"app": {{"instances": 3}}}})
                second = None
            except CloudifyClientError as exc:
                second = [exc.status_code, exc.error_code]
            listed = [m.id for m in client.deployment_modifications.list(deployment_id="dep")]
            finished = client.deployment_modifications.finish(started.id)
            try:
                client.deployment_modifications.rollback(started.id)
                again = None
            except CloudifyClientError as exc:
                again = [exc.status_code, exc.error_code, str(exc)]
            got = client.deployment_modifications.get(started.id)
            print(json.dumps({{"id": started.id, "status": started.status, "added": added, "second": second,
                              "listed": listed, "finished": finished.status, "again": again,
                              "got": [got.status, got.context, got.modified_nodes]}}))
        """)
        done = run_oracle(script, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        running.stop()
    assert seen["status"] == "started" and seen["finished"] == "finished"
    new = [i["id"] for i in env.by_node("app") if i["id"] != app["id"]]
    assert seen["added"] == new
    assert seen["second"] == [400, "existing_started_deployment_modification_error"]
    assert seen["listed"] == [seen["id"]]
    assert seen["again"][:2] == [400, "deployment_modification_already_ended_error"]
    assert "It is already in finished status." in seen["again"][2]
    assert seen["got"] == ["finished", {"why": "test"}, {"app": {"instances": 2}}]


def test_cloudify_local_engine_has_no_modifications_which_is_the_departure(env, tmp_path):
    """Cloudify's own local engine runs the same blueprint's install, but its workflow ctx
    refuses ``start_modification`` (only a manager implements it); cfy-local runs it."""
    import json
    import subprocess
    from pathlib import Path

    from cloudify_oracle import oracle_python

    _installed(env)
    ours = env.run("resize", {"delta": 1})
    assert ours.error is None, ours.error
    folder = env.root / "bp-dep"
    # The bundled types.yaml needs DSL 1.5 in Cloudify's parser (the workflows' parameter types).
    text = (folder / "blueprint.yaml").read_text().replace("cloudify_dsl_1_4", "cloudify_dsl_1_5")
    (folder / "oracle.yaml").write_text(text)
    conformance = Path(__file__).resolve().parents[1] / "conformance"
    types = Path(__file__).resolve().parents[2] / "cfy_local" / "dsl" / "resources" / "types.yaml"
    case = {"name": "mod", "blueprint": str(folder / "oracle.yaml"), "plugin_dir": str(folder / "plugin"),
            "types": str(types), "steps": [{"workflow": "install"},
                                           {"workflow": "resize", "parameters": {"delta": 1}}]}
    (tmp_path / "cases.json").write_text(json.dumps([case]))
    done = subprocess.run([oracle_python(), str(conformance / "oracle_engine.py"), str(tmp_path / "cases.json"),
                           str(tmp_path / "out.json")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [theirs] = json.loads((tmp_path / "out.json").read_text())
    assert "create_error" not in theirs, theirs
    install, resize = theirs["steps"]
    assert install["status"] == "terminated", install
    assert resize["status"] == "failed"
    assert resize["error"]["kind"] == "NotImplementedError"
    assert resize["error"]["text"] == "Implemented by subclasses"
