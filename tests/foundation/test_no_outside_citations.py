"""Comments and docs never send a reader to a document outside the repository: they state
Cloudify's behaviour in words or point at docs/cloudify-behaviour.md."""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The names of the product documents kept outside the repository; the pattern is built from
# them so that this file, which is checked too, holds no citation itself.
OUTSIDE_DOCUMENTS = ("manager", "cli", "workflows", "anchors", "types", "rest", "plugins")
SECTION = "\u00a7"
CITATION = re.compile("SPEC " + SECTION + r"|\b(?:" + "|".join(OUTSIDE_DOCUMENTS) + r")\.md\b"
                      + "|" + re.escape("../" + "shared") + "|" + "shared" + "/reference"
                      + r"|\(" + SECTION + r"\d")


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
        with open(os.path.join(REPO, path), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if CITATION.search(line):
                    found.append(f"{path}:{number}: {line.strip()}")
    assert found == []


def test_the_pattern_finds_a_citation():
    assert CITATION.search("rules (" + OUTSIDE_DOCUMENTS[2] + ".md " + SECTION + "1.3)")
    assert CITATION.search("exit codes of SPEC " + SECTION + "4")
    assert CITATION.search("the outcome (" + SECTION + "6.7)")
    assert CITATION.search("see " + "../" + "shared" + "/" + "SPEC" + ".md")
    assert not CITATION.search("see docs/cloudify-behaviour.md")
