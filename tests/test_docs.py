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


def _headings(markdown: str) -> list[str]:
    """The heading lines of a Markdown text, outside fenced code blocks."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return [line for line in prose.splitlines() if re.match(r"#{1,6} ", line)]


def test_every_command_has_a_section_in_the_command_line_reference():
    # docs/cli.md's convention: one section per command, its heading the command as typed,
    # `gibbsnet NAME`
    import click

    from gibbsnet_cli.main import cli

    with click.Context(cli) as ctx:
        commands = cli.list_commands(ctx)
    assert {"train", "sample", "export", "evaluate"} <= set(commands)
    headings = _headings((REPO / "docs" / "cli.md").read_text())
    missing = [name for name in commands
               if not any(re.search(rf"\bgibbsnet {re.escape(name)}(?![\w-])", h) for h in headings)]
    assert missing == [], f"docs/cli.md has no section headed `gibbsnet NAME` for {missing}"


def _github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation other than - and _ dropped, each space
    a hyphen (Python-Markdown's toc gives the same for plain ASCII headings)."""
    text = re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower())
    return text.replace(" ", "-")


def test_every_glossary_link_names_a_term_of_the_glossary():
    # mkdocs build --strict checks the links on the site; this checks them as GitHub renders them
    from markdown.extensions.toc import slugify  # the site's anchors (mkdocs.yml: toc)

    headings = _headings((REPO / "docs" / "glossary.md").read_text())
    anchors = [_github_anchor(h) for h in headings]
    assert anchors == [slugify(h.lstrip("#").strip(), "-") for h in headings], \
        "a glossary heading whose anchor differs on GitHub and on the site: use plain words"
    assert len(anchors) == len(set(anchors))
    linked = {}
    for source in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for anchor in re.findall(r"glossary\.md#([^)\s]+)", source.read_text()):
            if anchor not in anchors:
                linked.setdefault(source.relative_to(REPO).as_posix(), []).append(anchor)
    assert linked == {}


def test_the_docs_front_page_links_every_page():
    # GitHub shows docs/index.md for the folder (the site shows the README instead)
    import yaml

    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        items = nav.values() if isinstance(nav, dict) else nav
        return [page for item in items for page in pages(item)]  # type: ignore[union-attr]

    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    index = (REPO / "docs" / "index.md").read_text()
    linked = set(re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", index))
    assert {page for page in pages(config["nav"]) if page != "index.md"} <= linked
    assert all((REPO / "docs" / page).exists() for page in linked)
    assert "make train" in index and "make test" in index
