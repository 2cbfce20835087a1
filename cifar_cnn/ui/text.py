"""User-controlled text (class names, run ids, paths, messages) shown as text, never as Markdown.

Streamlit renders Markdown, its `:color[...]` directives, emoji shortcodes and LaTeX in nearly every
string it shows: titles, captions, alerts, button, radio and metric labels, image captions, tabs,
expanders and dialog titles (checked in Chromium with Streamlit 1.67). A class named like a Markdown
image would make every viewer's browser fetch from another server, so every such string passes
through `plain` before it reaches the page. Plotly renders a subset of HTML in its labels: `plotly_text`.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character: CommonMark lets a backslash escape any of them, and escaping all of them
# also defuses GFM's bare-URL links (their "://" and dots), Streamlit's ":name:" directives and "$" maths.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


# GFM turns bare addresses into links after escapes are resolved, so a backslash cannot stop it: an invisible
# word joiner inside "://", "www." and "@" does (the text reads the same).
_BARE_LINK_START = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)")
_WORD_JOINER = "\u2060"


def plain(text: object) -> str:
    """`text` as Markdown that displays exactly as the characters it holds, on one line, with no link."""
    one_line = " ".join(str(text).splitlines())
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", _BARE_LINK_START.sub(_WORD_JOINER, one_line))


def plain_list(items, separator: str = ", ") -> str:
    return separator.join(plain(item) for item in items)
