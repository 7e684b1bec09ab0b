"""MkDocs hook: the site's front page is the README, with its links made relative to docs/.

`docs/index.md` is the folder's own front page for readers of the Markdown files (on GitHub): a
short description, the set-up commands and a link to every page. The site replaces its whole
text with the README's, so the README is the one front page of the site.
"""

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
