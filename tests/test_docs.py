"""The docs and messages point only at what exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = [*sorted((REPO / "gibbsnet_plugin").rglob("*.py")), *sorted((REPO / "cli").rglob("*.py")),
           REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "pyproject.toml"]


def test_every_markdown_file_that_a_doc_or_message_names_exists():
    shipped = set(subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True,
                                 check=True).stdout.split())
    assert "README.md" in shipped
    missing = {}
    for source in SOURCES:
        for name in set(re.findall(r"[\w./-]*\w\.md\b", source.read_text())):
            if name.lstrip("./") not in shipped and not any(s.endswith("/" + name) for s in shipped):
                missing.setdefault(source.relative_to(REPO).as_posix(), []).append(name)
    assert missing == {}


def test_models_that_do_not_exist_yet_are_not_described():
    # HALI is not built yet: nothing may claim it (the package used to, in its docstring and README).
    claims = [source.relative_to(REPO).as_posix() for source in SOURCES
              if re.search(r"\bHALI\b", source.read_text())]
    assert claims == []
