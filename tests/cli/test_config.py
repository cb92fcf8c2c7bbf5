"""config.yaml is checked before anything changes; `cfy status` reports a broken one;
`cfy init` writes one that explains every key."""
from __future__ import annotations

from cfy_local.config import DEFAULTS, Config, load_config
from cfy_local.store.paths import Home


def test_unknown_key_is_one_line_and_nothing_is_written(home, cfy, tmp_path):
    bp = tmp_path / "bp"
    bp.mkdir()
    (bp / "blueprint.yaml").write_text("tosca_definitions_version: cloudify_dsl_1_4\n"
                                       "imports: [cloudify/types/types.yaml]\nnode_templates: {}\n")
    assert cfy("blueprints", "upload", str(bp / "blueprint.yaml"), "-b", "bp").exit_code == 0
    (home / "config.yaml").write_text("task_retyr_interval: 3\n")
    created = cfy("deployments", "create", "dep", "-b", "bp")
    assert created.exit_code == 1
    (line,) = created.stderr.splitlines()
    assert line == (f"{home}/config.yaml: unknown setting `task_retyr_interval` (did you mean "
                    f"`task_retry_interval`?); known settings: {', '.join(DEFAULTS)}")
    assert not (home / "deployments" / "dep").exists()
    started = cfy("executions", "start", "install", "-d", "dep")
    assert started.exit_code == 1 and len(started.stderr.splitlines()) == 1 and "Traceback" not in started.stderr
    assert not list((home / "executions").glob("*.json"))


def test_bad_yaml_and_bad_values_name_the_place(home, cfy):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text("task_retries: [\n")
    result = cfy("executions", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{home}/config.yaml is not valid YAML (line 2, column 1)")
    (home / "config.yaml").write_text("task_retries: many\n")
    assert cfy("executions", "list").stderr.strip() == (f"{home}/config.yaml: setting `task_retries` must be "
                                                        f"an integer of -1 or more, got `many`")


def test_status_reports_a_broken_config_and_init_reset_repairs_it(home, cfy):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text("colour: true\n")
    status = cfy("status")
    assert status.exit_code == 0
    assert "\tConfig:" in status.stdout and "BROKEN: " in status.stdout and "unknown setting `colour`" in status.stdout
    assert "config.yaml is broken" in status.stderr
    assert cfy("status", "--json").json["config"]["error"].endswith(f"known settings: {', '.join(DEFAULTS)}")
    assert cfy("init", "-r").exit_code == 0
    assert cfy("status", "--json").json["config"]["error"] is None


def test_init_writes_every_key_with_a_comment(home, cfy):
    assert cfy("init").exit_code == 0
    lines = (home / "config.yaml").read_text().splitlines()
    for key, value in DEFAULTS.items():
        at = lines.index(f"{key}: {value}")
        assert lines[at - 1].startswith("# ") and len(lines[at - 1]) > 20, key
    assert load_config(Home(str(home))) == Config()
