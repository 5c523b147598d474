"""Untrusted text never becomes live Markdown.

1. `ui.present.escape_md` (pure) makes any string inert in Streamlit's Markdown and reads
   as the string: properties checked with hypothesis, CommonMark checked with
   markdown-it-py when it is installed, Streamlit's own extensions against the patterns
   its renderer applies (see the comments in ui/present.py).
2. An AST check of every Streamlit call in ui/, pages/ and dashboard.py: each argument
   Streamlit renders as Markdown must be literal text, a number with a numeric format,
   `escape_md(...)`, or a helper of ui/ or the page whose every return is built the same
   way (checked recursively). The rule itself is stated in ui/__init__.py.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ui.present import (
    DISPLAY_CHARS,
    ELLIPSIS,
    WORD_JOINER,
    badge_label,
    escape_md,
    md_list,
    shorten,
)

HOSTILE = (
    "**bold** [link](http://x.test) ![img](http://127.0.0.1:1/pixel.png) :red[red] "
    "<b>html</b> # heading"
)
PUNCT = r"!-/:-@\[-`{-~"
ESCAPED = re.compile(rf"(?:\\[{PUNCT}]|[^{PUNCT}])*")
MARKDOWNISH = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("*_[]()!#`~|<>:$\\{}-+.=@&;/ \n\r\t\u2028wWhtps0123456789")),
        st.characters(),
    ),
    max_size=80,
)
# What Streamlit's renderer rewrites in TEXT after parsing (bundled frontend, 1.67):
# GFM autolink literals, shortcodes (remark-emoji, :streamlit:, :material_x:) and
# typographic arrows. None may match a value once its escapes are read.
AFTER_PARSE = [
    re.compile(r"https?://", re.IGNORECASE),
    re.compile(r"www\.", re.IGNORECASE),
    re.compile(r"[-.\w+]@[-\w]"),
    re.compile(r":[\w+-]+:"),
    re.compile(r"(?:^|\s)(?:<->|->|<-|--|>=|<=|~=)(?:\s|$)"),
]


def read(escaped: str) -> str:
    """The text a CommonMark renderer shows for `escape_md`'s output."""
    return re.sub(rf"\\([{PUNCT}])", r"\1", escaped)


# -- 1. escape_md -----------------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(MARKDOWNISH)
def test_escape_md_escapes_every_markdown_character(text: str) -> None:
    out = escape_md(text)
    assert ESCAPED.fullmatch(out), out  # each ASCII punctuation char escaped, nothing else
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", out)  # one line
    assert out == out.strip()


@settings(max_examples=400, deadline=None)
@given(MARKDOWNISH)
def test_escape_md_reads_as_the_value(text: str) -> None:
    shown = read(escape_md(text, limit=10_000)).replace(WORD_JOINER, "")
    assert shown == " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", text)
                             .translate(dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b"
                                                          "\u202c\u202d\u202e\u2066\u2067"
                                                          "\u2068\u2069"))).split()
                             ).replace(WORD_JOINER, "")


@settings(max_examples=400, deadline=None)
@given(MARKDOWNISH)
def test_nothing_streamlit_rewrites_after_parsing_survives(text: str) -> None:
    shown = read(escape_md(text, limit=10_000))
    for pattern in AFTER_PARSE:
        assert not pattern.search(shown), (pattern.pattern, shown)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500), st.integers(min_value=1, max_value=300))
def test_long_values_are_cut_with_an_ellipsis(text: str, limit: int) -> None:
    line = shorten(text, limit)
    assert len(line) <= limit
    full = shorten(text, 10_000)
    if len(full) <= limit:
        assert line == full
    else:
        assert line.endswith(ELLIPSIS)
        assert full.startswith(line[:-1])
    assert read(escape_md(text, limit)).replace(WORD_JOINER, "") == line.replace(WORD_JOINER, "")


def test_escape_md_on_the_attack_strings() -> None:
    out = escape_md(HOSTILE)
    assert out == (
        r"\*\*bold\*\* \[link\]\(http\:" + WORD_JOINER + r"\/\/x\.test\) \!\[img\]\(http\:"
        + WORD_JOINER + r"\/\/127\.0\.0\.1\:1\/pixel\.png\) \:red\[red\] \<b\>html\<\/b\> "
        r"\# heading"
    )
    assert escape_md("line one\n# two\r\n- three\u2028four") == r"line one \# two \- three four"
    assert escape_md(":material_home: :tada: me@x.test www.x.test a -> b") == (
        "\\:" + WORD_JOINER + "material\\_home\\: \\:" + WORD_JOINER + "tada\\: me\\@"
        + WORD_JOINER + "x\\.test www" + WORD_JOINER + "\\.x\\.test a \\-" + WORD_JOINER
        + "\\> b"
    )
    assert escape_md(None) == ""
    assert escape_md(12) == "12"
    assert escape_md("x" * 500) == "x" * (DISPLAY_CHARS - 1) + ELLIPSIS
    assert escape_md("\u202eevil\u202c") == "evil"
    assert escape_md("CUST-0001") == r"CUST\-0001"


def test_md_list_escapes_and_counts() -> None:
    assert md_list(["a*", "b_"]) == r"a\*, b\_"
    assert md_list([f"c{i}" for i in range(13)], 2) == "c0, c1 and 11 more"
    assert md_list([]) == ""


def test_badge_labels_leave_brackets_to_st_badge() -> None:
    assert badge_label("done") == "Done"
    assert badge_label("[x](y)") == r"[x]\(y\)"  # st.badge escapes the brackets


@settings(max_examples=200, deadline=None)
@given(MARKDOWNISH)
def test_commonmark_renders_escaped_text_as_plain_text(text: str) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    for doc, bold in ((escape_md(text), 0), (f"Run **7** · {escape_md(text)} · done", 1)):
        tokens = markdown_it.MarkdownIt("commonmark").parse(doc)
        assert [t.type for t in tokens][:1] in ([], ["paragraph_open"])
        inline = [c.type for t in tokens if t.type == "inline" for c in t.children or []]
        assert set(inline) <= {"text", "strong_open", "strong_close"}, (doc, inline)
        assert inline.count("strong_open") == bold  # only our own **7**
