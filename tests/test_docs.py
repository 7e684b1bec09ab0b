"""The docs and messages point only at what exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import gibbsnet_plugin as gn

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


def test_the_model_kinds_the_docs_name_exist():
    # The docs once described HALI before it existed.
    kinds = set(gn.chains.names())
    docs = [source for source in SOURCES if source.suffix == ".md"]
    named = {kind for source in docs for kind in re.findall(r"kind: ([a-z]\w*)", source.read_text())}
    assert named and named <= kinds
    if any(re.search(r"\bHALI\b", source.read_text()) for source in SOURCES):
        assert "hali" in kinds


def test_the_documentation_site_builds_without_a_warning(tmp_path):
    # --strict turns every warning (a missing page or anchor, a docstring that does not match its
    # signature) into a failure
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                             str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "api" / "index.html").exists()
    assert "export_model" in (tmp_path / "site" / "api" / "index.html").read_text()


def test_the_recipe_reference_is_generated_from_the_current_schema():
    import dataclasses

    from gibbsnet_plugin.recipe import schema

    def keys(cls: type, prefix: str = "") -> list[str]:
        found = []
        for f in dataclasses.fields(cls):
            if isinstance(f.type, str) and f.type.endswith("Config"):
                found += keys(getattr(schema, f.type), f"{prefix}{f.name}.")
            else:
                found.append(prefix + f.name)
        return found

    assert sorted(keys(schema.Recipe)) == sorted(schema.KEY_DOCS)
    result = subprocess.run([sys.executable, "docs/recipe_reference.py", "--check"], cwd=REPO)
    assert result.returncode == 0, "docs/recipes.md is out of date: python docs/recipe_reference.py"
