"""The bad-input corpus (corpus/README.md): every case refused clearly, quickly, harmlessly.

Cases run through the real CLI: hostile ones as separate processes under an address-space
limit (``isolate: true``), the rest in-process for speed. Each runs against a copy of a
baseline state dir (blueprint ``base`` + deployment ``web``) whose fingerprint must not
change.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import traceback

import pytest
import yaml
from click.testing import CliRunner

from reliability_support import CORPUS, fingerprint_diff, run_cfy_bounded, tree_fingerprint

CASE_KEYS = {"id", "args", "exit", "stderr", "stderr_re", "isolate", "seconds", "memory_mb", "home", "note",
             "forbid_files"}
MAX_STDERR = 5000
BLUEPRINT_HEAD = "tosca_definitions_version: cloudify_dsl_1_4\nimports:\n  - cloudify/types/types.yaml\n"


# Inputs too large for git, made at run time. Each writes its file into ``folder``.
def _deep_block(folder):
    lines = [BLUEPRINT_HEAD, "dsl_definitions:\n"]
    lines += [" " * (i + 1) + f"k{i}:\n" for i in range(1100)]
    lines.append(" " * 1101 + "leaf\nnode_templates:\n  web:\n    type: cloudify.nodes.Undefined\n")
    return _write(folder, "blueprint.yaml", "".join(lines))


def _long_key(folder):
    return _write(folder, "blueprint.yaml", BLUEPRINT_HEAD + "node_templates:\n  " + "k" * 300_000
                  + ":\n    type: cloudify.nodes.Root\n")


def _huge_version(folder):
    return _write(folder, "blueprint.yaml", "tosca_definitions_version: " + "v" * 4_000_000 + "\nnode_templates: {}\n")


def _huge_inputs(folder):
    return _write(folder, "inputs.yaml", "port: '" + "9x" * 2_000_000 + "'\n")


def _huge_parameters(folder):
    return _write(folder, "parameters.yaml", "target: x\nbogus: '" + "p" * 4_000_000 + "'\n")


GENERATORS = {"deep_block": _deep_block, "long_key": _long_key, "huge_version": _huge_version,
              "huge_inputs": _huge_inputs, "huge_parameters": _huge_parameters}


def _write(folder, name, text):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "w") as fh:
        fh.write(text)
    return path


def load_cases() -> list:
    params = []
    seen = set()
    for path in sorted((CORPUS / "cases").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        defaults = doc.get("defaults") or {}
        for case in doc["cases"]:
            unknown = set(case) - CASE_KEYS
            assert not unknown, f"{path.name}: case {case.get('id')} has unknown keys {unknown}"
            merged = {"exit": 1, "stderr": [], "isolate": False, "home": "base", "forbid_files": []}
            merged.update(defaults)
            merged.update(case)
            key = f"{path.stem}:{case['id']}"
            assert key not in seen, f"duplicate case {key}"
            seen.add(key)
            params.append(pytest.param(merged, id=key))
    return params


CASES = load_cases()


def test_corpus_is_large_enough():
    assert len(CASES) >= 100


@pytest.fixture(scope="session")
def base_home(tmp_path_factory):
    """The baseline state dir, built once per test process through the real CLI."""
    root = tmp_path_factory.mktemp("corpus-base") / "home"
    env = dict(os.environ, CFY_LOCAL_HOME=str(root))
    env.pop("CFY_LOCAL_FAKE_NOW", None)
    steps = [["blueprints", "upload", str(CORPUS / "base" / "blueprint.yaml"), "-b", "base"],
             ["deployments", "create", "web", "-b", "base"]]
    for step in steps:
        proc = subprocess.run([sys.executable, "-m", "cfy_local", *step], capture_output=True, text=True,
                              env=env, timeout=120)
        if proc.returncode != 0:
            return None, f"baseline step `cfy {' '.join(step)}` failed ({proc.returncode}): {proc.stderr.strip()[-600:]}"
    return root, None


def _expand(args: list[str], scratch: str) -> list[str]:
    out = []
    for arg in args:
        for match in re.findall(r"\{gen:(\w+)\}", arg):
            arg = arg.replace("{gen:%s}" % match, GENERATORS[match](os.path.join(scratch, "gen", match)))
        arg = (arg.replace("{blueprints}", str(CORPUS / "blueprints")).replace("{inputs}", str(CORPUS / "inputs"))
               .replace("{base}", str(CORPUS / "base")).replace("{tmp}", scratch))
        out.append(arg)
    return out


def _run_in_process(args: list[str], home: str, monkeypatch) -> tuple[int, str, str, float]:
    from cfy_local.cli import main

    monkeypatch.setenv("CFY_LOCAL_HOME", home)
    monkeypatch.delenv("CFY_LOCAL_FAKE_NOW", raising=False)
    runner = CliRunner()
    start = time.process_time()
    with runner.isolation() as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:  # what a real process would print before dying with exit 1
            code = 1
            sys.stderr.write(traceback.format_exc())
        sys.stdout.flush()
        sys.stderr.flush()
        out = streams[0].getvalue().decode("utf-8", "replace")
        err = streams[1].getvalue().decode("utf-8", "replace")
    return code, out, err, time.process_time() - start


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused(case, base_home, tmp_path, monkeypatch):
    home = tmp_path / "home"
    if case["home"] == "base":
        root, problem = base_home
        if root is None:
            pytest.fail(problem)
        shutil.copytree(root, home, symlinks=True)
    else:
        home.mkdir(mode=0o700)
    for path in case["forbid_files"]:
        if os.path.lexists(path):
            os.unlink(path)
    args = _expand(case["args"], str(tmp_path / "scratch"))
    before = tree_fingerprint(home)
    # The bound is on CPU time (the machine may be busy with other tests); wall time only
    # guards against a hang, generously.
    if case["isolate"]:
        seconds = case.get("seconds", 10)
        wall = max(60, 6 * seconds)
        result = run_cfy_bounded(args, home, timeout=wall, memory_mb=case.get("memory_mb", 1024),
                                 cwd=str(tmp_path))
        assert not result.timed_out, f"still running after {wall}s: cfy {case['args']}"
        code, out, err, cpu = result.exit_code, result.stdout, result.stderr, result.cpu_seconds
    else:
        seconds = case.get("seconds", 5)
        code, out, err, cpu = _run_in_process(args, str(home), monkeypatch)
    shown = f"cfy {' '.join(a[:80] for a in case['args'])} -> exit {code}\nstderr: {err[:1500]!r}\nstdout: {out[:500]!r}"

    assert cpu <= seconds, f"used {cpu:.1f}s of CPU (bound {seconds}s): {shown}"
    assert "Traceback" not in err and "Traceback" not in out, shown
    err_length = len(err)  # not len() inside the assert: pytest would print the whole text
    assert err_length < MAX_STDERR, f"stderr is {err_length} characters: {shown}"
    for path in case["forbid_files"]:
        assert not os.path.lexists(path), f"{path} was created: input was executed ({shown})"
    expected = case["exit"]
    if expected == "any_clean":
        if code == 0:
            return  # accepted: a valid (if odd) input; the bounds above are what this case checks
        assert code in (1, 2), shown
    elif expected == "nonzero":
        assert code != 0, shown
    else:
        assert code == expected, shown
    assert err.strip(), f"refused without a message: {shown}"
    for fragment in _expand(case["stderr"], str(tmp_path / "scratch")):
        assert fragment in err, f"missing {fragment!r}: {shown}"
    if case.get("stderr_re"):
        assert re.search(case["stderr_re"], err), f"stderr does not match {case['stderr_re']!r}: {shown}"
    diff = fingerprint_diff(before, tree_fingerprint(home))
    assert not diff, "state changed:\n" + "\n".join(diff[:20]) + "\n" + shown
