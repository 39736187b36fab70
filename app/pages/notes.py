"""A run's notes as HTML: markdown (CommonMark, raw HTML off) and then sanitised with nh3.

Raw HTML in the markdown is escaped by the parser, and the parser's output still passes an
allow-list (nh3, Ammonia), so neither a `<script>` nor a `javascript:` link reaches a page.
"""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h1", "h2", "h3", "h4",
    "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_notes(text: str | None) -> Markup:
    """Safe HTML for `text` (empty for no notes); links get rel="noopener noreferrer"."""
    if not text:
        return Markup("")
    html = _parser().render(text)
    return Markup(nh3.clean(html, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}},
                            url_schemes={"http", "https", "mailto"}))  # fmt: skip
