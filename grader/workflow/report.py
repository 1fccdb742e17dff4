"""`vaelab grade report`: the class report, one HTML page with its figures beside it.

For the instructor after grading: how the class scored (histogram of totals), which tests the
class fails (pass rate per autograded test, and the most frequent failure messages, counted
over every submission's vaelab_result.json), and what is left to do (submissions waiting for
manual grading, submissions the autograder could not fully grade). The scores and statuses come
from grader.workflow.export.class_table, the same reading as grades.csv, so the two always agree.

Output: COURSE/reports/report.html (self-contained: inline CSS, no scripts) and, in the same
folder, histogram.png and pass_rate.png. Every text that a student can influence (ids, failure
messages, which may quote their output) is HTML-escaped.
"""

from __future__ import annotations

import collections
import datetime
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from grader.course import Course
from grader.workflow.export import ClassTable, Part, StudentRow, class_table
from vaelab_core.atomic_files import atomic_path

TOP_MESSAGES = 10          # failure messages listed
HISTOGRAM = "histogram.png"
PASS_RATE = "pass_rate.png"
CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.msg { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 0.9em; }
img { max-width: 100%; } .muted { color: #666; }
"""


@dataclass(frozen=True)
class PassRate:
    """How a class did on one autograded test."""

    part: Part
    passed: int  # graded submissions with full points
    graded: int  # submissions with a score for this test

    @property
    def rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


def _full_points(score: float | None, part: Part) -> bool:
    return score is not None and score >= part.max_score - 1e-9


def pass_rates(table: ClassTable) -> list[PassRate]:
    """For each autograded part (a code grade cell), in notebook order, the share of graded
    submissions that got full points."""
    rates = []
    for part in (p for p in table.parts if p.autograded):
        scores = [row.scores[part.grade_id] for row in table.rows if row.submitted]
        scores = [score for score in scores if score is not None]
        rates.append(PassRate(part, sum(_full_points(s, part) for s in scores), len(scores)))
    return rates


def failure_messages(table: ClassTable, top: int = TOP_MESSAGES) -> list[tuple[str, int, list[str]]]:
    """The `top` most frequent messages of tests that lost points, over every autograder record:
    [(message, count, grade ids it came from), ...], most frequent first (ties: alphabetical)."""
    counts: Counter[str] = Counter()
    sources: dict[str, set[str]] = {}
    for row in table.rows:
        for grade_id, verdict in ((row.result.tests or {}).items() if row.result else ()):
            if verdict.full_points:
                continue
            for message in verdict.messages:
                counts[message] += 1
                sources.setdefault(message, set()).add(grade_id)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [(message, count, sorted(sources[message])) for message, count in ranked]


def waiting_for_manual_grading(table: ClassTable) -> list[StudentRow]:
    """Submitted rows with parts that still need a score."""
    return [row for row in table.rows if row.state == "pending"]


def draw_histogram(table: ClassTable, path: Path) -> None:
    """Histogram of the submissions' totals, on 0 .. max_total, as a PNG (atomically)."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot: no display, no global state

    totals = np.array([row.total for row in table.rows if row.submitted], dtype=float)
    top = max(table.max_total, 1.0)
    bins = np.linspace(0, top, min(20, max(1, int(np.ceil(top)))) + 1)
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.add_subplot()
    if totals.size:
        ax.hist(totals, bins=bins, color="tab:blue", edgecolor="white")
        ax.set_title(f"{totals.size} submissions: mean {totals.mean():.1f}, median "
                     f"{np.median(totals):.1f} of {table.max_total:g} points")
    else:
        ax.text(0.5, 0.5, "no submissions yet", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlim=(0, top), xlabel=f"total (points, out of {table.max_total:g})", ylabel="submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def draw_pass_rates(rates: list[PassRate], path: Path) -> None:
    """Horizontal bars: share of graded submissions with full points, per autograded test."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.5 * max(len(rates), 2) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    shown = [r for r in rates if r.graded]
    if shown:
        names = [r.part.grade_id for r in shown][::-1]  # first test on top
        values = [100 * r.rate for r in shown][::-1]
        bars = ax.barh(names, values, color="tab:green")
        ax.bar_label(bars, labels=[f"{r.passed}/{r.graded}" for r in shown][::-1], padding=3)
    else:
        ax.text(0.5, 0.5, "no graded submissions yet", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlim=(0, 110), xlabel="graded submissions with full points (%)",
           title="pass rate per autograded test")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _table(header: list[str], rows: list[list[str]], numeric: Collection[int] = (),
           message: int | None = None) -> str:
    """An HTML table; every cell is escaped here (callers pass plain text)."""
    def cell(index: int, text: str) -> str:
        css = ' class="n"' if index in numeric else ' class="msg"' if index == message else ""
        return f"<td{css}>{escape(text)}</td>"

    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(cell(i, text) for i, text in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def render(table: ClassTable, rates: list[PassRate], messages: list[tuple[str, int, list[str]]]) -> str:
    """The report page as HTML text, figures referenced by their file names."""
    pending = waiting_for_manual_grading(table)
    problems = [row for row in table.rows if row.problems]
    submitted = [row for row in table.rows if row.submitted]
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    cuts = cut_counts(table)
    none = '<p class="muted">None.</p>'
    sections = [
        f"<h1>Class report: {escape(table.assignment)}</h1>",
        f'<p class="muted">{escape(table.notebook)}, generated {escape(when)} by <code>vaelab grade '
        f"report</code> from the gradebook (the same numbers as grades.csv).</p>",
        f"<p>{escape(table.summary())}.</p>",
        "<h2>Scores</h2>",
        f'<img src="{HISTOGRAM}" alt="histogram of the totals of {len(submitted)} submissions">',
        '<p class="muted">Totals so far: parts not graded yet count 0; students without a submission '
        "are left out.</p>",
        "<h2>Pass rate per test</h2>",
        f'<img src="{PASS_RATE}" alt="pass rate per autograded test">',
        _table(["test", "points", "full points", "graded", "pass rate"],
               [[r.part.grade_id, f"{r.part.max_score:g}", str(r.passed), str(r.graded),
                 f"{100 * r.rate:.0f} %" if r.rate is not None else "-"] for r in rates],
               numeric={1, 2, 3, 4}) if rates else none,
        f"<h2>Most frequent failure messages (top {TOP_MESSAGES})</h2>",
        '<p class="muted">Messages of tests that lost points, counted over every autograder record.</p>',
        _table(["count", "tests", "message"], [[str(count), ", ".join(tests), message]
                                               for message, count, tests in messages],
               numeric={0}, message=2) if messages else none,
        f"<h2>Waiting for manual grading ({len(pending)})</h2>",
        _table(["student", "parts"], [[row.student_id, ", ".join(row.pending)] for row in pending])
        if pending else none,
        f"<h2>Runs cut short by a limit ({sum(cuts.values())})</h2>",
        '<p class="muted">Each limit that stopped or cut a submission\'s run; its row below says where.</p>',
        _table(["limit", "submissions"], [[limit, str(count)] for limit, count in cuts.most_common()],
               numeric={1}) if cuts else none,
        f"<h2>Autograder problems and flags ({len(problems)})</h2>",
        _table(["student", "status"], [[row.student_id, row.status] for row in problems])
        if problems else none,
    ]
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>Class report: {escape(table.assignment)}</title>\n<style>{CSS}</style>\n</head>\n"
            "<body>\n" + "\n".join(sections) + "\n</body>\n</html>\n")


def cut_counts(table: ClassTable) -> collections.Counter:
    """{limit name: submissions whose run it cut} (grader.engine.result.Cut values)."""
    return collections.Counter(cut for row in table.rows if row.result is not None
                               for cut in sorted({problem.cut.value for problem in row.result.problems}))


def main(course: str | Path = ".", out: str | Path | None = None) -> Path:
    """Write the class report of the course in `course` to `out` (default
    COURSE/reports/report.html), with histogram.png and pass_rate.png beside it.

    Returns the HTML's path.
    """
    course = Course.load(course)
    out = Path(out) if out is not None else course.report_html
    table = class_table(course)
    rates = pass_rates(table)
    draw_histogram(table, out.parent / HISTOGRAM)
    draw_pass_rates(rates, out.parent / PASS_RATE)
    with atomic_path(out) as tmp:
        tmp.write_text(render(table, rates, failure_messages(table)), encoding="utf-8")
    print(f"wrote {out} (+ {HISTOGRAM}, {PASS_RATE} beside it): {table.summary()}")
    return out
