"""Comments and docs never send a reader to a document outside the repository: they state
Cloudify's behaviour in words or point at docs/cloudify-behaviour.md."""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CITATION = re.compile(r"SPEC §|\b(?:manager|cli|workflows|anchors|types|rest|plugins)\.md\b"
                      r"|\.\./shared|shared/reference|\(§\d")
PENDING: set[str] = set()  # files excused from the check: none


def _files():
    for top in ("cfy_local", "tests", "docs", "bench", "examples"):
        for folder, _, names in os.walk(os.path.join(REPO, top)):
            for name in names:
                if name.endswith((".py", ".md", ".sh", ".yaml", ".tcss", ".c")):
                    yield os.path.relpath(os.path.join(folder, name), REPO)
    yield "README.md"


def test_no_comment_or_doc_cites_a_file_outside_the_repository():
    found = []
    for path in _files():
        if path in PENDING or path == os.path.relpath(__file__, REPO):
            continue
        with open(os.path.join(REPO, path), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if CITATION.search(line):
                    found.append(f"{path}:{number}: {line.strip()}")
    assert found == []


def test_the_pattern_finds_a_citation():
    assert CITATION.search("rules (workflows.md §1.3)")
    assert CITATION.search("exit codes of SPEC §4")
    assert CITATION.search("the outcome (§6.7)")
    assert not CITATION.search("see docs/cloudify-behaviour.md")
