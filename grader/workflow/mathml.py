"""Formulas as MathML in the pages nbgrader renders from a course's notebooks: formgrader's
grading view and the students' feedback pages.

nbconvert leaves each `$...$` of a Markdown cell in the page for MathJax, which nbgrader's
templates load from a CDN: without a network (an exam-room machine, a student's laptop on a
train) the formulas of the lab and of the students' written derivations stay raw TeX. This
filter turns each formula into MathML (latex2mathml), which browsers draw themselves; when
MathJax does load, it finds no TeX left to change. A formula that latex2mathml cannot read
stays TeX, as before.

The course's nbgrader settings name the filter (`grader.course.MARKDOWN_FILTERS`): in the
nbgrader_config.py that `vaelab grade init` writes, which formgrader reads when `jupyter lab` runs
in the course folder, and in `grader.course.nbgrader_config`, which `vaelab grade feedback` uses.

The formulas are the students' text, shown in the instructor's logged-in browser: the MathML is
rebuilt from latex2mathml's element tree with every text escaped and only presentation
attributes kept (its own serializer writes `\\text{<script>}` through unescaped).
"""

from __future__ import annotations

import html
from xml.etree.ElementTree import Element, tostring

from jinja2 import pass_context
from latex2mathml.converter import convert_to_element
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

#: Attributes latex2mathml writes that may reach the page (no links, no event handlers).
ATTRIBUTES = {"xmlns", "display", "displaystyle", "scriptlevel", "mathvariant", "mathcolor", "mathbackground",
              "mathsize", "stretchy", "fence", "separator", "lspace", "rspace", "minsize", "maxsize",
              "symmetric", "largeop", "movablelimits", "accent", "accentunder", "linethickness", "width",
              "height", "depth", "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines",
              "rowlines", "frame", "framespacing", "equalrows", "equalcolumns", "notation", "open", "close",
              "separators", "class"}


def _clean(element: Element) -> None:
    """In place: entity references in texts decoded (tostring escapes them again), attributes
    outside ATTRIBUTES dropped."""
    for name in [name for name in element.attrib if name not in ATTRIBUTES]:
        del element.attrib[name]
    element.text = html.unescape(element.text) if element.text else element.text
    element.tail = html.unescape(element.tail) if element.tail else element.tail
    for child in element:
        _clean(child)


def mathml(tex: str, display: bool = False) -> str | None:
    """The MathML of one TeX formula, or None when latex2mathml cannot read it."""
    try:
        element = convert_to_element(tex, display="block" if display else "inline")
        _clean(element)
        return tostring(element, encoding="unicode")
    except Exception:  # latex2mathml's own errors, plain ones on TeX it half-reads, RecursionError
        return None


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, with formulas written as MathML rather than left as TeX."""

    def inline_math(self, body: str) -> str:
        return mathml(body) or super().inline_math(body)

    def block_math(self, body: str) -> str:
        return mathml(body, display=True) or super().block_math(body)

    def latex_environment(self, name: str, body: str) -> str:
        return mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True) or super().latex_environment(name, body)


@pass_context
def markdown2html(context, source: str) -> str:
    """nbconvert's `markdown2html` template filter (HTMLExporter's, with its default settings),
    formulas as MathML."""
    cell = context.get("cell", {})
    path = context.get("resources", {}).get("metadata", {}).get("path", "")
    renderer = MathMLRenderer(escape=False, attachments=cell.get("attachments", {}), path=path)
    return MarkdownWithMath(renderer=renderer).render(source)
