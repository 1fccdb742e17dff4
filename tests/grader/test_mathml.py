"""Formulas as MathML in the pages nbgrader renders (grader/workflow/mathml.py): the lab's own
formulas, a student's hostile TeX, TeX that cannot be read, and the course's nbgrader_config.py
as formgrader loads it."""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import MarkdownWithMath
from traitlets.config.loader import PyFileConfigLoader

from grader.course import nbgrader_config
from grader.workflow.init import write_nbgrader_config
from grader.workflow.mathml import MathMLRenderer, mathml

ROOT = Path(__file__).resolve().parents[2]


def render(markdown: str) -> str:
    return MarkdownWithMath(renderer=MathMLRenderer(escape=False)).render(markdown)


def test_inline_and_display_formulas_become_mathml_and_the_text_stays():
    page = render("The prior is $\\mathcal{N}(0, \\mathbf{I})$, and\n\n$$\\mathcal{L} = -\\log p(x)$$\n\nend.")
    assert page.count('<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">') == 1
    assert page.count('display="block"') == 1
    assert "The prior is" in page and "end." in page
    assert "$" not in page and "\\mathcal" not in page


def test_every_formula_of_both_labs_is_read():
    unread = []

    class Recording(MathMLRenderer):
        def inline_math(self, body):
            unread.extend([] if mathml(body) else [body])
            return ""

        def block_math(self, body):
            unread.extend([] if mathml(body, display=True) else [body])
            return ""

    formulas = 0
    for path in sorted(ROOT.glob("solutions/*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                formulas += cell.source.count("$")
                MarkdownWithMath(renderer=Recording(escape=False)).render(cell.source)
    assert formulas > 100
    assert unread == []


def test_a_student_s_tex_cannot_put_markup_or_links_in_the_page():
    page = render("$\\text{<script>alert(1)</script>} a<b \\& c$ and $\\href{javascript:alert(1)}{x}$ "
                  "and $\\color{red\" onmouseover=\"alert(1)}{a}$")
    tags = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Tags().feed(page)
    assert "script" not in {tag for tag, _ in tags} and "&lt;script&gt;" in page
    assert not [(tag, attrs) for tag, attrs in tags if {"href", "onmouseover"} & set(attrs)]
    assert {"math", "mtext", "mstyle"} <= {tag for tag, _ in tags}


def test_tex_that_cannot_be_read_stays_tex_for_mathjax():
    deep = "{" * 3000 + "x" + "}" * 3000  # nesting deeper than Python's recursion limit
    assert mathml(deep) is None
    page = render("a broken $\\frac{a}{$ formula and $x<1$")
    assert "$\\frac{a}{$" in page
    assert "<math" in page  # the readable one next to it


def test_code_keeps_its_dollars():
    page = render("`echo $HOME $PATH`\n\n```\ncost = $5 + $6\n```\n")
    assert "<math" not in page
    assert "$HOME $PATH" in page and "$5 + $6" in page


def test_the_course_s_nbgrader_config_gives_formgrader_s_exporter_the_filter(tmp_path):
    """What formgrader does when `jupyter lab` runs in the course folder: load nbgrader_config.py,
    build an HTMLExporter from it, render a notebook."""
    write_nbgrader_config(tmp_path)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("the ELBO $\\mathcal{L}(x)$")])
    page, _ = HTMLExporter(config=config).from_notebook_node(notebook)
    assert "<math" in page and "\\mathcal" not in page


def test_a_jupyter_without_the_kit_still_renders_the_course_s_pages(tmp_path, monkeypatch):
    """`jupyter lab` from an environment without vaelab: the config loads, formulas stay TeX."""
    write_nbgrader_config(tmp_path)
    monkeypatch.setitem(sys.modules, "grader.workflow.mathml", None)  # `import` of it raises ImportError
    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("the ELBO $\\mathcal{L}(x)$")])
    page, _ = HTMLExporter(config=config).from_notebook_node(notebook)
    assert "$\\mathcal{L}(x)$" in page and "<math" not in page


def test_the_config_feedback_uses_names_the_filter(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$a^2$")])
    page, _ = HTMLExporter(config=nbgrader_config(tmp_path)).from_notebook_node(notebook)
    assert "<msup>" in page
