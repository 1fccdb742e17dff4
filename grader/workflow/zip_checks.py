"""The checks every ZIP goes through at intake, in order (grader/workflow/intake.py files what passes).

Each check takes the Submission on its way (below) and the IntakeSetup (the course and the roster), fills
in its part or raises Rejected with the reason recorded for the ZIP; `CHECKS` is the order. The
rules are in grader/workflow/intake.py's docstring: file name -> student id, a safe archive, one
notebook and one PDF, read under a byte cap, the notebook valid and this assignment's, the PDF
within the page limit.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
import pypdf

from grader.course import Course

MAX_PAGES = 3                      # the handout's limit on the PDF report
MAX_TOTAL_BYTES = 200 * 2**20      # uncompressed bytes per ZIP, declared and actually read
MAX_RATIO = 100                    # uncompressed / compressed size above this is a bomb ...
RATIO_FLOOR = 2**20                # ... for members above 1 MiB (small text files compress very well)
MAX_MEMBERS = 1000                 # entries per ZIP, noise included
CHUNK = 2**20                      # bytes decompressed per read


@dataclass(frozen=True)
class Student:
    """One roster line."""

    student_id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""


@dataclass(frozen=True)
class IntakeSetup:
    """The course ZIPs are taken into (its folder's layout is the Course's), what the checks read
    of it once, and the roster intake was given."""

    course: Course
    source_grade_ids: frozenset[str]    # nbgrader grade ids of the instructor's source notebook
    roster: tuple[Student, ...] | None  # None: ids come from the file names alone

    @classmethod
    def load(cls, root: str | Path, roster: tuple[Student, ...] | None) -> IntakeSetup:
        """The course in folder `root` (raises grader.course.CourseError when it is not one)."""
        course = Course.load(root)
        return cls(course, course.source_grade_ids(), roster)

    @property
    def assignment(self) -> str:
        """The course's nbgrader assignment name, e.g. "vae_speech"."""
        return self.course.assignment


@dataclass
class Submission:
    """One ZIP on its way through the checks; each check fills in its part."""

    path: Path
    timestamp: datetime
    zip_sha256: str
    student: str = ""
    entries: list[zipfile.ZipInfo] = field(default_factory=list)
    notebook_entry: zipfile.ZipInfo | None = None
    pdf_entry: zipfile.ZipInfo | None = None
    ignored: list[str] = field(default_factory=list)
    notebook: bytes = b""            # dropped once staged
    pdf: bytes = b""
    notebook_sha256: str = ""
    pdf_sha256: str = ""
    pdf_pages: int | None = None
    staged: Path | None = None       # submitted/.intake-XXXX/, holding <assignment>/ ready to move
    status: str = ""
    reason: str = ""
    notes: list[str] = field(default_factory=list)


class Rejected(Exception):
    """A ZIP that cannot be accepted; the message is the reason recorded for it."""


def identify_student(sub: Submission, setup: IntakeSetup) -> None:
    """The student id from the ZIP's file stem (module docstring: "Student id")."""
    stem = sub.path.stem
    if setup.roster is None:
        head = re.split(r"[ _\-(]", stem, maxsplit=1)[0]
        ascii_head = unicodedata.normalize("NFKD", head).encode("ascii", "ignore").decode()
        sub.student = re.sub(r"[^a-z0-9.]", "", ascii_head.lower()).strip(".")
        if not sub.student:
            raise Rejected(f"no student id in the file name {sub.path.name!r}: it should start with "
                           f"the id, e.g. 'jdoe_{setup.assignment}.zip' (or pass --roster)")
        return
    lowered = stem.lower()
    spans: dict[str, list[tuple[int, int]]] = {}
    for student in setup.roster:
        local = student.email.partition("@")[0] if "@" in student.email else ""
        for token in {student.student_id.lower(), local.lower()} - {""}:
            pattern = rf"(?<![^\W_]){re.escape(token)}(?![^\W_])"
            spans.setdefault(student.student_id, []).extend(
                m.span() for m in re.finditer(pattern, lowered))
    every = [(sid, span) for sid, found in spans.items() for span in found]
    # A match inside a longer one (id "ab" inside "ab-12") is part of that one, not a second id.
    matched = sorted({sid for sid, (a, b) in every
                      if not any((c <= a and b <= d) and (c, d) != (a, b) for _, (c, d) in every)})
    if len(matched) == 1:
        sub.student = matched[0]
    elif not matched:
        raise Rejected(f"no roster student id or e-mail name in the file name {sub.path.name!r}: "
                       "is the student on the roster? Rename the ZIP to hold the id, e.g. "
                       f"'<id>_{setup.assignment}.zip'")
    else:
        raise Rejected(f"the file name {sub.path.name!r} matches several roster students "
                       f"({', '.join(matched)}); rename the ZIP to hold only one id")


def vet_archive(sub: Submission, setup: IntakeSetup) -> None:
    """Open the ZIP and check every entry's name, flags and declared size, before decompressing."""
    try:
        if not zipfile.is_zipfile(sub.path):
            with open(sub.path, "rb") as handle:
                starts_as_zip = handle.read(4) == b"PK\x03\x04"
            raise Rejected("truncated ZIP (no central directory): was the download cut short? Save "
                           "the attachment again" if starts_as_zip else
                           "not a ZIP archive (a .rar or .7z renamed, or a single file?): ask for a .zip")
        with zipfile.ZipFile(sub.path) as archive:
            sub.entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError,
            OSError) as err:
        raise Rejected(f"corrupt ZIP ({err}): ask the student to zip the files again") from None
    if len(sub.entries) > MAX_MEMBERS:
        raise Rejected(f"the ZIP has {len(sub.entries)} entries, the limit is {MAX_MEMBERS}: "
                       "a submission is a notebook and a PDF")
    declared = 0
    for entry in sub.entries:
        name = entry.filename
        parts = re.split(r"[/\\]", name)
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
            raise Rejected(f"unsafe entry {name!r}: an absolute path (refused: it could write "
                           "outside the course)")
        if ".." in parts:
            raise Rejected(f"unsafe entry {name!r}: a '..' part (refused: it could write outside "
                           "the course)")
        if (entry.external_attr >> 16) & 0o170000 == 0o120000:
            raise Rejected(f"unsafe entry {name!r}: a symbolic link (refused)")
        if entry.flag_bits & 0x1:
            raise Rejected(f"entry {name!r} is encrypted: ask for a ZIP without a password")
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise Rejected(f"ZIP bomb: entry {name!r} inflates {ratio:.0f} times, to "
                           f"{entry.file_size / 2**20:.0f} MiB (limit {MAX_RATIO} times)")
        declared += entry.file_size
    if declared > MAX_TOTAL_BYTES:
        raise Rejected(f"ZIP bomb or not a submission: {declared / 2**20:.0f} MiB uncompressed, "
                       f"the limit is {MAX_TOTAL_BYTES / 2**20:.0f} MiB")


def is_noise(name: str) -> bool:
    """macOS resource forks, hidden files and folders (.ipynb_checkpoints/), folder entries."""
    parts = [part for part in name.split("/") if part]
    return name.endswith("/") or not parts or parts[0] == "__MACOSX" or any(
        part.startswith(".") for part in parts)


def pick_files(sub: Submission, setup: IntakeSetup) -> None:
    """Exactly one notebook and one PDF; other files are set aside (listed in the note)."""
    files = [entry for entry in sub.entries if not is_noise(entry.filename)]
    notebooks = [e for e in files if e.filename.lower().endswith(".ipynb")]
    pdfs = [e for e in files if e.filename.lower().endswith(".pdf")]
    if not notebooks:
        raise Rejected("no notebook (.ipynb) in the ZIP")
    if len(notebooks) > 1:
        raise Rejected(f"{len(notebooks)} notebooks ({', '.join(e.filename for e in notebooks)}): "
                       "send exactly one")
    if not pdfs:
        raise Rejected("no PDF report")
    if len(pdfs) > 1:
        raise Rejected(f"{len(pdfs)} PDFs ({', '.join(e.filename for e in pdfs)}): send exactly one "
                       "report")
    sub.notebook_entry, sub.pdf_entry = notebooks[0], pdfs[0]
    sub.ignored = [e.filename for e in files if e not in (notebooks[0], pdfs[0])]


def read_capped(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, budget: int) -> bytes:
    """The bytes of `entry`, refused past `budget` bytes or its declared size, whatever it holds."""
    limit = min(budget, entry.file_size)
    chunks, size = [], 0
    with archive.open(entry) as member:
        while chunk := member.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise Rejected(f"ZIP bomb: entry {entry.filename!r} inflates past "
                               f"{limit / 2**20:.1f} MiB (its declared size or the cap)")
            chunks.append(chunk)
    return b"".join(chunks)


def read_files(sub: Submission, setup: IntakeSetup) -> None:
    """Decompress the notebook and the PDF, and nothing else, under one byte budget."""
    try:
        with zipfile.ZipFile(sub.path) as archive:
            sub.notebook = read_capped(archive, sub.notebook_entry, MAX_TOTAL_BYTES)
            sub.pdf = read_capped(archive, sub.pdf_entry, MAX_TOTAL_BYTES - len(sub.notebook))
    except (zipfile.BadZipFile, EOFError, zlib.error, ValueError, NotImplementedError, OSError) as err:
        raise Rejected(f"corrupt ZIP ({err}): ask the student to zip the files again") from None
    sub.notebook_sha256 = hashlib.sha256(sub.notebook).hexdigest()
    sub.pdf_sha256 = hashlib.sha256(sub.pdf).hexdigest()


def check_notebook(sub: Submission, setup: IntakeSetup) -> None:
    """UTF-8 text, JSON, valid nbformat 4, and the notebook of this course's assignment."""
    name = sub.notebook_entry.filename
    data = sub.notebook.removeprefix(codecs.BOM_UTF8)  # a BOM is still UTF-8; json refuses it
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Rejected(f"notebook {name!r} is not UTF-8 text (byte 0x{data[err.start]:02x} "
                       f"at {err.start}): was it re-saved by another editor? Ask for the .ipynb "
                       "as Jupyter saved it") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        raise Rejected(f"notebook {name!r} is not valid JSON ({err.msg} at line {err.lineno}, "
                       f"column {err.colno}): the file is damaged; ask for it again") from None
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    # Any failure here is the student's file, not a bug of ours: nbformat raises ValidationError,
    # NotJSONError, and KeyError/TypeError/AttributeError on JSON of the wrong shape.
    except Exception as err:  # noqa: BLE001
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise Rejected(f"notebook {name!r} is not a valid Jupyter notebook ({first_line})") from None
    claimed = (notebook.metadata.get("vaelab") or {}).get("assignment")
    if claimed is not None:
        if claimed != setup.assignment:
            raise Rejected(f"notebook {name!r} is for assignment {claimed!r}, not "
                           f"{setup.assignment!r}: the wrong notebook was sent")
        return
    grade_ids = {cell.metadata.get("nbgrader", {}).get("grade_id") for cell in notebook.cells} - {None}
    shared = len(grade_ids & setup.source_grade_ids)
    if 2 * shared < len(setup.source_grade_ids):
        raise Rejected(f"notebook {name!r} does not look like the {setup.assignment} notebook: it "
                       f"has {shared} of the {len(setup.source_grade_ids)} graded cells (nbgrader "
                       "grade ids) of the source; the wrong notebook was sent, or one rebuilt by hand")


def count_pages(sub: Submission, setup: IntakeSetup) -> None:
    """A readable PDF of at most MAX_PAGES pages."""
    name = sub.pdf_entry.filename
    try:
        pages = len(pypdf.PdfReader(io.BytesIO(sub.pdf)).pages)
    # pypdf raises its own errors, and ValueError/KeyError/... on damaged files: all mean the same.
    except Exception as err:  # noqa: BLE001
        raise Rejected(f"the PDF report {name!r} cannot be read ({type(err).__name__}: {err}): "
                       "ask for it exported again") from None
    sub.pdf_pages = pages
    if pages > MAX_PAGES:
        raise Rejected(f"report has {pages} pages, the limit is {MAX_PAGES}")
    if pages == 0:
        raise Rejected(f"the PDF report {name!r} has no pages")


#: The checks every ZIP goes through, in this order; each fills in part of the Submission or
#: raises Rejected, and the first failure is the reason recorded. The file name comes first (it
#: needs no reading, so even a corrupt ZIP is reported under its student); then the archive is
#: vetted as a whole from its directory (bombs, traversal, encryption) before a single byte is
#: decompressed; only the two chosen files are ever decompressed, under the cap; the contents
#: are judged last.
CHECKS: tuple[Callable[[Submission, IntakeSetup], None], ...] = (
    identify_student, vet_archive, pick_files, read_files, check_notebook, count_pages)
