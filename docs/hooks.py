"""MkDocs hook: the site's front page is the README, with its links made relative to docs/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != "index.md":
        return markdown
    text = README.read_text(encoding="utf-8").replace("](docs/", "](")
    text = text.replace("[changelog](CHANGELOG.md)", "the changelog (`CHANGELOG.md`)")
    return text.replace("The guides are a [MkDocs](https://www.mkdocs.org) site (`pip install "
                        "mkdocs-material\n'mkdocstrings[python]'`, then `mkdocs serve`), readable "
                        "as Markdown in `docs/` too:", "The guides:")
