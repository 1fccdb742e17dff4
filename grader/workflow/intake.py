"""`vaelab grade intake ZIP_DIR`: take in the ZIPs students e-mailed, check each one, and file the
good ones where nbgrader looks for submissions.

Inputs: every `*.zip` in ZIP_DIR (sorted by name, `.ZIP` too; hidden files such as macOS
`._x.zip` are skipped), the course folder COURSE (nbgrader's layout, initialised by
`vaelab grade init`: `vaelab_course.json` names the assignment and its notebook file,
`source/<assignment>/` holds the instructor's notebook) and, optionally, a class roster (CSV
with a header: `student_id` required, `first_name`, `last_name`, `email` optional).

A ZIP is accepted when, in this order (the first failure is the reason reported; the checks and
their limits are in grader/workflow/zip_checks.py):

1. its file name tells the student (rule below);
2. it is a readable ZIP whose entries are all safe: no absolute name, no `..` part, no symbolic
   link, no encryption, at most MAX_MEMBERS entries, at most MAX_TOTAL_BYTES uncompressed in all
   and no member of over RATIO_FLOOR bytes inflating more than MAX_RATIO times (a ZIP bomb);
3. leaving aside noise (`__MACOSX/`, any name part starting with `.`, folders) it holds exactly
   one notebook (`.ipynb`) and exactly one PDF; other files are allowed, listed in the row's note;
4. the notebook and the PDF decompress within the cap (counted while reading, whatever the
   headers declared: nothing is ever extracted with extractall);
5. the notebook is UTF-8, JSON, a valid nbformat 4 notebook, and this assignment's: its metadata
   `vaelab.assignment` names the course's assignment or, when absent, at least half of the
   source notebook's nbgrader grade ids appear in it;
6. the PDF opens with pypdf and has at most MAX_PAGES pages (the handout's rule).

Student id. With a roster, the ZIP's file stem must contain exactly one roster `student_id`, or
the local part of exactly one roster e-mail, as a whole token: case-insensitively, bounded by
the ends of the stem or by characters other than letters and digits (an id may itself hold
dots or dashes: `jane.doe`, `s-104`); a match lying inside a longer match (`ab` inside `ab-12`)
does not count. The id filed is the roster's spelling. Without a roster, the id is the stem up
to its first space, `_`, `-` or `(`, lowercased, accents dropped, restricted to `[a-z0-9.]`,
without leading or trailing dots (`Jane.Doe_vae (1).zip` -> `jane.doe`); empty -> rejected.

Outputs, for each accepted ZIP: `COURSE/submitted/<student>/<assignment>/<notebook>` (the
notebook's bytes as sent, renamed to the course's notebook file name), `report.pdf` and
`timestamp.txt` (when the ZIP arrived, i.e. its modification time, in nbgrader's own format so
that its autograde reads it). Each submission folder is written into a hidden staging folder
inside `submitted/` and renamed into place, so a reader sees the old submission or the new one
(or, between two renames, none), never half of one; a rejected ZIP, or an error, leaves nothing
in `submitted/`.

Statuses: `accepted` (filed now), `unchanged` (the identical submission, same arrival time, is
already filed: re-running intake is idempotent), `duplicate` (valid, but the student has a later
valid ZIP, in this intake or already filed: the latest arrival is kept, the reason names it),
`rejected` (the reason says why; a rejected ZIP does not displace a valid one). A newer valid
ZIP replaces a filed submission as a whole.

Every ZIP is recorded in `COURSE/intake.csv`, keyed by file name and the ZIP's sha256, rewritten
atomically with the union of earlier and new rows; a table and what to run next are printed.
With a roster, its students are created or updated in `COURSE/gradebook.db` (when it exists),
so that nbgrader knows the whole class, submitters or not.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nbgrader.utils import parse_utc

from grader.course import COURSE_ID
from grader.workflow.zip_checks import CHECKS, IntakeSetup, Rejected, Student, Submission
from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError
from vaelab_core.provenance import sha256_file

#: nbgrader's Exchange.timestamp_format with its default timezone (UTC): what `nbgrader submit`
#: writes to timestamp.txt, and what nbgrader.utils.parse_utc reads back.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"
STAGING_PREFIX = ".intake-"        # hidden: nbgrader's globs over submitted/ skip it

ACCEPTED, UNCHANGED, DUPLICATE, REJECTED = "accepted", "unchanged", "duplicate", "rejected"
CSV_COLUMNS = ["file", "zip_sha256", "student", "status", "reason", "note", "timestamp",
               "notebook_sha256", "pdf_pages"]
#: Rows of intake.csv (column -> text) by (ZIP file name, ZIP sha256).
Record = dict[tuple[str, str], dict[str, str]]


@dataclass
class IntakeRow:
    """What became of one ZIP: a line of the printed table and of COURSE/intake.csv."""

    file: str                        # the ZIP's file name in ZIP_DIR
    student: str                     # student id; "" when the file name did not tell
    status: str                      # accepted / unchanged / duplicate / rejected
    reason: str                      # why rejected, or which later ZIP made it a duplicate; else ""
    timestamp: datetime              # when the ZIP arrived (its modification time), aware, UTC
    zip_sha256: str                  # of the ZIP file's bytes
    notebook_sha256: str = ""        # of the notebook as sent; "" when not read
    pdf_pages: int | None = None     # pages of the report; None when not counted
    note: str = ""                   # other files in the ZIP (ignored), a replaced earlier submission

    def to_csv(self) -> dict[str, str]:
        return {"file": self.file, "zip_sha256": self.zip_sha256, "student": self.student,
                "status": self.status, "reason": self.reason, "note": self.note,
                "timestamp": format_timestamp(self.timestamp), "notebook_sha256": self.notebook_sha256,
                "pdf_pages": "" if self.pdf_pages is None else str(self.pdf_pages)}


def row_of(sub: Submission) -> IntakeRow:
    """What became of the ZIP `sub`, as a row of the table and of intake.csv."""
    notes = ([f"ignored: {', '.join(sub.ignored)}"] if sub.ignored else []) + sub.notes
    return IntakeRow(file=sub.path.name, student=sub.student, status=sub.status,
                     reason=sub.reason, timestamp=sub.timestamp, zip_sha256=sub.zip_sha256,
                     notebook_sha256=sub.notebook_sha256, pdf_pages=sub.pdf_pages,
                     note="; ".join(notes))


# ------------------------------------------------------------------------------ the course side

def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def arrival(path: Path) -> datetime:
    """The file's modification time, exact to the microsecond, as an aware UTC datetime."""
    ns = path.stat().st_mtime_ns
    return (datetime.fromtimestamp(ns // 10**9, tz=timezone.utc)
            + timedelta(microseconds=ns % 10**9 // 1000))


def read_roster(path: Path) -> tuple[Student, ...]:
    """The roster CSV: a header with `student_id` (required), `first_name`, `last_name`, `email`."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip().lower() for name in reader.fieldnames or []]
            lines = [dict(zip(header, (value or "" for value in row.values()))) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise VaelabError(f"cannot read the roster {path} ({err}); give a UTF-8 CSV file with a "
                          "header line.") from None
    if "student_id" not in header:
        raise VaelabError(f"the roster {path} has no 'student_id' column (its header: "
                          f"{', '.join(header) or 'empty'}); add one, beside optional first_name, "
                          "last_name and email.")
    students, seen = [], set()
    for number, line in enumerate(lines, start=2):
        sid = line["student_id"].strip()
        if not sid:
            continue
        if sid.startswith(".") or re.search(r"[/\\]", sid) or sid.lower() in seen:
            raise VaelabError(f"roster {path}, line {number}: student_id {sid!r} is "
                              f"{'repeated' if sid.lower() in seen else 'not a usable folder name'}; "
                              "fix the roster.")
        seen.add(sid.lower())
        students.append(Student(sid, *(line.get(key, "").strip()
                                       for key in ("first_name", "last_name", "email"))))
    if not students:
        raise VaelabError(f"the roster {path} lists no students.")
    return tuple(students)


def update_gradebook(setup: IntakeSetup) -> None:
    """Create or update the roster's students in COURSE/gradebook.db, when it exists."""
    course = setup.course
    if setup.roster is None or not course.gradebook_path.is_file():
        return
    # Imported only when needed: sqlalchemy is slow to import.
    from nbgrader.api import Gradebook

    from grader.engine.environment import nbgrader_tools

    # nbgrader runs `alembic` by name should the database be empty
    with nbgrader_tools(), Gradebook(course.db_url, course_id=COURSE_ID) as gradebook:
        for student in setup.roster:
            # Only the fields the roster fills in: an empty cell must not erase what nbgrader has.
            details = {key: value for key, value in (("first_name", student.first_name),
                                                      ("last_name", student.last_name),
                                                      ("email", student.email)) if value}
            gradebook.update_or_create_student(student.student_id, **details)
    print(f"gradebook: {len(setup.roster)} roster students created or updated in {course.gradebook_path}")


def read_record(path: Path) -> Record:
    """Earlier rows of intake.csv, by (file, zip_sha256)."""
    if not path.is_file():
        return {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.DictReader(handle) if row.get("file")]
    except (UnicodeDecodeError, csv.Error) as err:
        raise VaelabError(f"cannot read the intake record {path} ({err}): was it saved by a "
                          "spreadsheet? Move it aside and run intake again.") from None
    return {(row["file"], row.get("zip_sha256", "")): {key: row.get(key) or "" for key in CSV_COLUMNS}
            for row in rows}


def write_record(path: Path, earlier: Record, rows: list[IntakeRow]) -> None:
    """Rewrite intake.csv atomically: earlier rows, updated by this run's.

    An `unchanged` ZIP keeps its earlier row, which says when it was accepted, so that
    re-running intake writes the same bytes.
    """
    merged = dict(earlier)
    for row in rows:
        key = (row.file, row.zip_sha256)
        if not (row.status == UNCHANGED and key in merged):
            merged[key] = row.to_csv()
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        order = sorted(merged, key=lambda key: (key[0], merged[key]["timestamp"], key[1]))
        writer.writerows(merged[key] for key in order)


# ---------------------------------------------------------------------- staging and placement

def write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def stage(sub: Submission, setup: IntakeSetup) -> None:
    """Write the submission folder into submitted/.intake-XXXX/<assignment>/; drop the bytes.

    The staging folder is laid out as a (hidden) student's folder, so that the course names its
    files as it will name them once placed."""
    course = setup.course
    course.submitted_dir.mkdir(parents=True, exist_ok=True)
    sub.staged = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=course.submitted_dir))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(sub.staged, 0o777 & ~umask)  # mkdtemp makes it private; it becomes the student's folder
    staged_as = sub.staged.name
    course.submission_dir(staged_as).mkdir()
    write_synced(course.submitted_notebook(staged_as), sub.notebook)
    write_synced(course.submitted_report(staged_as), sub.pdf)
    write_synced(course.submitted_timestamp(staged_as), format_timestamp(sub.timestamp).encode())
    sub.notebook, sub.pdf = b"", b""


def place(sub: Submission, setup: IntakeSetup) -> None:
    """Move the staged folder into submitted/<student>/<assignment>, replacing an older one.

    Renames only: a new student's whole folder appears at once; an existing submission is moved
    aside into the staging folder (deleted afterwards) and put back if the second rename fails.
    """
    course = setup.course
    target = course.submission_dir(sub.student)
    if course.submitted_dir.resolve() not in target.resolve().parents:  # ids are vetted; stay certain
        raise VaelabError(f"refusing to write {target}: outside {course.submitted_dir}")
    if not target.parent.exists():
        os.rename(sub.staged, target.parent)
        sub.staged = None
        return
    replaced = sub.staged / f"replaced-{course.assignment}"
    if target.exists():
        os.rename(target, replaced)
    try:
        os.rename(course.submission_dir(sub.staged.name), target)
    except BaseException:
        if replaced.exists():
            os.rename(replaced, target)
        raise


def existing_submission(setup: IntakeSetup, student: str) -> tuple[datetime | None, str, str] | None:
    """(arrival time, notebook sha256, report sha256) of the filed submission, or None."""
    course = setup.course
    if not course.submission_dir(student).is_dir():
        return None
    moment = None
    stamp = course.submitted_timestamp(student)
    if stamp.is_file():
        try:
            moment = parse_utc(stamp.read_text().strip()).replace(tzinfo=timezone.utc)
        except (ValueError, OverflowError):
            moment = None  # unreadable: treated as older than anything
    hashes = [sha256_file(path) if path.is_file() else ""
              for path in (course.submitted_notebook(student), course.submitted_report(student))]
    return moment, hashes[0], hashes[1]


def decide(subs: list[Submission], setup: IntakeSetup, earlier: Record) -> None:
    """Set the status of every valid submission: per student the latest arrival wins, the one
    already filed included."""
    by_student: dict[str, list[Submission]] = {}
    for sub in subs:
        by_student.setdefault(sub.student, []).append(sub)
    for student, group in by_student.items():
        group.sort(key=lambda s: (s.timestamp, s.path.name))  # ties: the later name, for a stable pick
        latest = group[-1]
        for older in group[:-1]:
            older.status, older.reason = DUPLICATE, f"older than {latest.path.name}"
        filed = existing_submission(setup, student)
        if filed is None:
            latest.status = ACCEPTED
            continue
        moment, notebook_sha, pdf_sha = filed
        if moment is not None and moment > latest.timestamp:
            stamp = format_timestamp(moment)
            source = next((row["file"] for row in earlier.values() if row["student"] == student
                           and row["timestamp"] == stamp and row["status"] in (ACCEPTED, UNCHANGED)),
                          f"the submission filed in {setup.course.submission_dir(student).relative_to(setup.course.root)}")
            for sub in group:
                sub.status, sub.reason = DUPLICATE, f"older than {source}"
        elif (moment == latest.timestamp and notebook_sha == latest.notebook_sha256
              and pdf_sha == latest.pdf_sha256):
            latest.status = UNCHANGED
        else:
            latest.status = ACCEPTED
            latest.notes.append("replaces the submission of "
                                + (format_timestamp(moment) if moment else "unknown time"))


# ------------------------------------------------------------------------------------- the verb

def print_table(rows: list[IntakeRow], course_arg: str | Path, record: Path) -> None:
    headers = ("file", "student", "status", "reason")
    cells = [(r.file, r.student or "?", r.status, r.reason or r.note) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers[:3])]
    for line in [headers, *cells]:
        print(("  " + "  ".join(f"{value:<{widths[i]}}" for i, value in enumerate(line[:3]))
               + "  " + line[3]).rstrip())
    counts = {status: sum(r.status == status for r in rows)
              for status in (ACCEPTED, UNCHANGED, DUPLICATE, REJECTED)}
    print(", ".join(f"{n} {status}" for status, n in counts.items()) + f"; recorded in {record}")
    if counts[REJECTED]:
        print("rejected ZIPs: send each student the reason; a corrected ZIP put in the folder is "
              "taken in by running intake again.")
    print(f"next: vaelab grade autograde --course {shlex.quote(str(course_arg))}")


def main(zips: str | Path, course: str | Path = ".", roster: str | Path | None = None) -> list[IntakeRow]:
    """Take in every *.zip of `zips` into the course folder `course`; returns one row per ZIP.

    `roster`: optional class list (CSV) that ids are matched against (module docstring).
    Raises VaelabError for problems with the whole call: `zips` missing or without ZIPs, the
    course not initialised, the roster unreadable.
    """
    zips, root = Path(zips), Path(course)
    if not zips.is_dir():
        raise VaelabError(f"{zips} is not a folder: give the folder where the students' ZIP "
                          "attachments were saved.")
    paths = sorted(p for p in zips.iterdir()
                   if p.suffix.lower() == ".zip" and not p.name.startswith(".") and p.is_file())
    if not paths:
        raise VaelabError(f"no *.zip files in {zips}: save the students' e-mail attachments there "
                          "first.")
    setup = IntakeSetup.load(root, read_roster(Path(roster)) if roster is not None else None)
    update_gradebook(setup)
    record = setup.course.intake_record
    earlier = read_record(record)
    print(f"intake of {len(paths)} ZIP file(s) from {zips} into {root} (assignment {setup.assignment})")
    subs = [Submission(path=p, timestamp=arrival(p), zip_sha256=sha256_file(p)) for p in paths]
    try:
        valid = []
        for sub in subs:
            try:
                for check in CHECKS:
                    check(sub, setup)
            except Rejected as reason:
                sub.status, sub.reason = REJECTED, str(reason)
                sub.notebook, sub.pdf = b"", b""
                continue
            stage(sub, setup)
            valid.append(sub)
        decide(valid, setup, earlier)
        for sub in valid:
            if sub.status == ACCEPTED:
                place(sub, setup)
    finally:
        for sub in subs:
            if sub.staged is not None:
                shutil.rmtree(sub.staged, ignore_errors=True)
    rows = [row_of(sub) for sub in subs]
    write_record(record, earlier, rows)
    print_table(rows, course, record)
    return rows
