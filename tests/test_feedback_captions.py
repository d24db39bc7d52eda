"""feedback.html figure captions: the graders' `code` spans are shown as <code>, and everything is escaped."""
from __future__ import annotations

import re

from autograder.engine.feedback_html import render_feedback


def _page(title: str) -> str:
    maps = {"input": [[0.0, 1.0], [1.0, 0.0]], "expected": [[1.0]], "yours": [[-1.0]], "title": title}
    data = {"parts": {"p": ["Part", 1.0]}, "score": 0.0, "max_score": 1.0, "tests": [
        {"name": "t", "part": "p", "max_score": 1.0, "score": 0.0, "passed": False, "hidden": False,
         "summary": "wrong", "attachments": {"feature_maps": [maps]}}]}
    return render_feedback(data)


def test_backticked_names_in_a_caption_are_rendered_as_code():
    html = _page("The `pool1` maps of `model.pool1(relu(conv1))`")
    caption = re.search(r"<figcaption>(.*?)</figcaption>", html, re.S).group(1)
    assert caption == "The <code>pool1</code> maps of <code>model.pool1(relu(conv1))</code>"
    assert 'alt="The pool1 maps of model.pool1(relu(conv1))"' in html  # no raw backticks in the alt text either


def test_caption_code_spans_are_escaped_first():
    html = _page("`<script>alert(1)</script>` & `a<b`")
    caption = re.search(r"<figcaption>(.*?)</figcaption>", html, re.S).group(1)
    assert caption == "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code> &amp; <code>a&lt;b</code>"
    assert "<script>" not in html
