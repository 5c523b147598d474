"""The JSON pre-scan's shortcut (bodies whose byte and bracket counts already bound
the tokens and depth skip the scan) gives the scan's own answers."""

from __future__ import annotations

import pytest

from doku.client.bounded import json_shape_problem


@pytest.mark.parametrize(("body", "problem"), [
    (b"[[[1]]]", None),  # three openers: within depth 3 without a scan
    (b"[[[[1]]]]", "is nested deeper than 3 levels"),
    (b'["[[[[", {"a": 1}]', None),  # brackets in a string: the scan says depth 2
    (b'{"a": [[[{}]]]}', "is nested deeper than 3 levels"),
])
def test_depth(body: bytes, problem: str | None) -> None:
    assert json_shape_problem(body, max_depth=3, max_tokens=1000) == problem


@pytest.mark.parametrize(("body", "problem"), [
    (b"[1,2]", None),  # five bytes: at most five tokens without a scan
    (b"[12345678]", None),  # ten bytes, but two tokens (numbers are not counted)
    (b'["a","b","c"]', "has more than 5 JSON tokens"),
])
def test_tokens(body: bytes, problem: str | None) -> None:
    assert json_shape_problem(body, max_depth=10, max_tokens=5) == problem
