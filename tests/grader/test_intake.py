"""`vaelab grade intake`: real ZIPs and real PDFs in, a course folder nbgrader can read out.

Each test builds a tiny course (vaelab_course.json + the source notebook) and a folder of ZIPs
whose arrival times are set explicitly (os.utime), so nothing depends on the clock.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import shutil
import struct
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from grader.course import Course  # noqa: E402
from grader.workflow import intake  # noqa: E402
from grader.engine.environment import nbgrader_tools  # noqa: E402
from grader.workflow import zip_checks  # noqa: E402
from grader.workflow.intake import ACCEPTED, DUPLICATE, REJECTED, UNCHANGED, main  # noqa: E402
from grader.workflow.zip_checks import Submission  # noqa: E402
from grader.workflow.zip_checks import IntakeSetup, Student, identify_student  # noqa: E402
from vaelab_core.errors import VaelabError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "labs" / "vae_speech" / "vae_speech.ipynb"
# Arrival times of the ZIPs (their modification times), fixed: 2025-03-01 09:00 UTC and later.
T0 = 1_740_819_600


@functools.cache
def notebook_bytes(assignment: str | None = "vae_speech", keep_grade_ids: bool = True) -> bytes:
    """The student notebook as Jupyter saves it, claiming `assignment` (None: no claim)."""
    notebook = nbformat.read(LAB, as_version=4)
    notebook.metadata.setdefault("vaelab", {}).pop("assignment", None)
    if assignment is not None:
        notebook.metadata.vaelab.assignment = assignment
    if not keep_grade_ids:
        for cell in notebook.cells:
            cell.metadata.pop("nbgrader", None)
    return nbformat.writes(notebook).encode()


@functools.cache
def pdf_bytes(pages: int) -> bytes:
    """A real `pages`-page PDF from matplotlib."""
    buffer = io.BytesIO()
    with PdfPages(buffer) as pdf:
        for page in range(pages):
            figure = plt.figure(figsize=(2, 2))
            figure.text(0.5, 0.5, f"page {page + 1}")
            pdf.savefig(figure)
            plt.close(figure)
    return buffer.getvalue()


def make_zip(folder: Path, name: str, members: dict[str, bytes], minutes: int = 0) -> Path:
    """A ZIP `folder/name` holding `members`, arrived `minutes` after T0."""
    path = folder / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    os.utime(path, (T0 + 60 * minutes, T0 + 60 * minutes))
    return path


def good(notebook: str = "vae_speech.ipynb", pages: int = 2, **extra: bytes) -> dict[str, bytes]:
    return {notebook: notebook_bytes(), "report.pdf": pdf_bytes(pages), **extra}


@pytest.fixture
def course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    (root / "source" / "vae_speech").mkdir(parents=True)
    shutil.copy(LAB, root / "source" / "vae_speech" / "vae_speech.ipynb")
    (root / "vaelab_course.json").write_text(json.dumps({"assignment": "vae_speech",
                                                        "notebook": "vae_speech.ipynb"}))
    return root


@pytest.fixture
def zips(tmp_path: Path) -> Path:
    folder = tmp_path / "zips"
    folder.mkdir()
    return folder


def only_row(zips: Path, course: Path, **kwargs) -> intake.IntakeRow:
    (row,) = main(zips, course, **kwargs)
    return row


def nothing_filed(course: Path) -> bool:
    """No student folder and no staging folder in submitted/ (which may not exist at all)."""
    submitted = course / "submitted"
    return not submitted.exists() or not any(submitted.iterdir())


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root`, hidden ones included, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ accepted

def test_accepted_zip_is_filed_where_nbgrader_reads_it(course, zips, capsys):
    from nbgrader.coursedir import CourseDirectory

    make_zip(zips, "alice_vae_speech.zip",
             good(notebook="work/My Lab.ipynb", README=b"hi", **{
                 "__MACOSX/work/._My Lab.ipynb": b"junk", ".DS_Store": b"junk",
                 "work/.ipynb_checkpoints/My Lab-checkpoint.ipynb": b"{}", "work/": b""}),
             minutes=5)
    row = only_row(zips, course)
    assert (row.student, row.status, row.reason, row.pdf_pages) == ("alice", ACCEPTED, "", 2)
    assert row.note == "ignored: README"
    folder = course / "submitted" / "alice" / "vae_speech"
    assert sorted(p.name for p in folder.iterdir()) == ["report.pdf", "timestamp.txt", "vae_speech.ipynb"]
    assert (folder / "vae_speech.ipynb").read_bytes() == notebook_bytes()  # as sent, renamed
    assert (folder / "report.pdf").read_bytes() == pdf_bytes(2)
    # nbgrader's own reader of timestamp.txt gives back the ZIP's arrival time.
    arrived = datetime.fromtimestamp(T0 + 300, tz=timezone.utc)
    assert row.timestamp == arrived and row.timestamp.tzinfo is not None
    stamp = CourseDirectory(root=str(course)).get_existing_timestamp(str(folder))
    assert stamp == arrived.replace(tzinfo=None)
    assert not list((course / "submitted").glob(".intake-*"))
    out = capsys.readouterr().out
    assert "alice_vae_speech.zip" in out and "1 accepted" in out
    assert f"vaelab grade autograde --course {course}" in out
    with open(course / "intake.csv", newline="") as handle:
        (recorded,) = csv.DictReader(handle)
    assert recorded["status"] == ACCEPTED and recorded["student"] == "alice"
    assert recorded["notebook_sha256"] == row.notebook_sha256 and recorded["pdf_pages"] == "2"


def test_notebook_without_metadata_is_recognised_by_its_grade_ids(course, zips):
    make_zip(zips, "bob.zip", {"lab.ipynb": notebook_bytes(assignment=None), "r.pdf": pdf_bytes(1)})
    assert only_row(zips, course).status == ACCEPTED


# ---------------------------------------------------------------------------------- student id

def student_of(name: str, roster: tuple[Student, ...] | None = None) -> str:
    """The id the rule gives for a ZIP called `name`; raises Rejected when there is none."""
    sub = Submission(path=Path(name), timestamp=datetime.now(timezone.utc), zip_sha256="")
    course = Course(Path("."), {"assignment": "vae_speech", "notebook": "vae_speech.ipynb"})
    identify_student(sub, IntakeSetup(course, frozenset(), roster))
    return sub.student


@pytest.mark.parametrize("name, student", [
    ("alice.zip", "alice"),
    ("Jane.Doe_vae_speech (1).zip", "jane.doe"),
    ("S1234-lab3.zip", "s1234"),
    ("Müller Anna.zip", "muller"),
    ("bob(2).zip", "bob"),
    ("..evil..zip", "evil"),  # never "..": an id is a folder name
])
def test_id_from_file_name(name, student):
    assert student_of(name) == student


@pytest.mark.parametrize("name", ["_vae.zip", "(1).zip", "..zip", "#!.zip"])
def test_file_name_without_id_is_rejected(name):
    with pytest.raises(zip_checks.Rejected, match="no student id"):
        student_of(name)


ROSTER = (Student("s-104", "Sam", "Lee", "sam.lee@uni.edu"), Student("ab", "Ann", "Bo", ""),
          Student("ab-12", "Abe", "Ray", ""), Student("JDOE", "Jane", "Doe", "jane.doe@uni.edu"))


@pytest.mark.parametrize("name, student", [
    ("Report s-104 final.zip", "s-104"),
    ("vae_AB.zip", "ab"),
    ("ab-12_vae.zip", "ab-12"),        # "ab" inside "ab-12" is not a second id
    ("jdoe.zip", "JDOE"),              # the roster's spelling is the one filed
    ("Jane.Doe lab.zip", "JDOE"),      # e-mail name
    ("sam.lee-vae.zip", "s-104"),
])
def test_id_from_roster(name, student):
    assert student_of(name, ROSTER) == student


@pytest.mark.parametrize("name, reason", [
    ("zoe_vae.zip", "no roster student id"),
    ("s-1040.zip", "no roster student id"),  # a longer token is another id
    ("ab_and_s-104.zip", "several roster students"),
])
def test_roster_id_must_match_exactly_one_student(name, reason):
    with pytest.raises(zip_checks.Rejected, match=reason):
        student_of(name, ROSTER)


def test_roster_run_files_by_roster_id_and_updates_the_gradebook(course, zips, tmp_path):
    from nbgrader.api import Gradebook

    # nbgrader asks the `alembic` command for a new gradebook's schema
    with nbgrader_tools(), Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="vaelab"):
        pass  # an empty gradebook, as nbgrader leaves it
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,first_name,last_name,email\ns-104,Sam,Lee,sam.lee@uni.edu\n"
                      "jdoe,Jane,Doe,jane.doe@uni.edu\nkim,Kim,,\n")
    make_zip(zips, "Jane.Doe - VAE.zip", good())
    make_zip(zips, "unknown_student.zip", good())
    rows = main(zips, course, roster=roster)
    assert [(r.student, r.status) for r in rows] == [("jdoe", ACCEPTED), ("", REJECTED)]
    assert "no roster student id" in rows[1].reason
    assert (course / "submitted" / "jdoe" / "vae_speech" / "vae_speech.ipynb").is_file()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        students = {s.id: (s.first_name, s.last_name, s.email) for s in gradebook.students}
    assert students == {"s-104": ("Sam", "Lee", "sam.lee@uni.edu"),
                        "jdoe": ("Jane", "Doe", "jane.doe@uni.edu"), "kim": ("Kim", None, None)}


# ------------------------------------------------------------------------- rejected contents

def test_rejections_say_why_and_leave_nothing_in_submitted(course, zips):
    not_notebook = json.dumps({"cells": "none"}).encode()
    cases = {  # ZIP name: (members, words of the reason)
        "a_nopdf.zip": ({"vae_speech.ipynb": notebook_bytes()}, "no PDF report"),
        "b_long.zip": (good(pages=10), "report has 10 pages, the limit is 3"),
        "c_badpdf.zip": (good() | {"report.pdf": b"%PDF-1.4\nnot really"}, "cannot be read"),
        "d_twonb.zip": (good() | {"copy.ipynb": notebook_bytes()}, "2 notebooks"),
        "e_nonb.zip": ({"report.pdf": pdf_bytes(1)}, "no notebook"),
        "f_other.zip": (good() | {"vae_speech.ipynb": notebook_bytes("gan_images")},
                        "for assignment 'gan_images'"),
        "g_foreign.zip": (good() | {"vae_speech.ipynb": notebook_bytes(None, keep_grade_ids=False)},
                          "does not look like the vae_speech notebook"),
        "h_json.zip": (good() | {"vae_speech.ipynb": notebook_bytes()[:-200]}, "not valid JSON"),
        "i_utf16.zip": (good() | {"vae_speech.ipynb": notebook_bytes().decode().encode("utf-16")},
                         "not UTF-8"),
        "j_shape.zip": (good() | {"vae_speech.ipynb": not_notebook}, "not a valid Jupyter notebook"),
        "k_twopdf.zip": (good() | {"extra.pdf": pdf_bytes(1)}, "2 PDFs"),
    }
    for name, (members, _) in cases.items():
        make_zip(zips, name, members)
    rows = main(zips, course)
    for row, (name, (_, reason)) in zip(rows, cases.items(), strict=True):
        assert (row.file, row.status) == (name, REJECTED), row
        assert reason in row.reason, (name, row.reason)
    assert rows[1].pdf_pages == 10
    assert nothing_filed(course)


def test_not_a_zip_and_corrupt_zip_are_rejected(course, zips):
    (zips / "alice.zip").write_bytes(b"Rar!\x1a\x07\x00 not a zip")
    bob = make_zip(zips, "bob.zip", good())
    whole = bob.read_bytes()
    with zipfile.ZipFile(bob) as archive:  # damage the compressed PDF: inflating it fails
        middle = archive.getinfo("report.pdf").header_offset + 100
    (zips / "carl.zip").write_bytes(whole[:middle] + bytes(64) + whole[middle + 64:])
    (zips / "dan.zip").write_bytes(whole[: len(whole) // 2])  # cut in half: no directory
    rows = {row.file: row for row in main(zips, course)}
    assert rows["alice.zip"].status == REJECTED and "not a ZIP archive" in rows["alice.zip"].reason
    assert rows["bob.zip"].status == ACCEPTED
    assert rows["carl.zip"].status == REJECTED and "corrupt ZIP" in rows["carl.zip"].reason
    assert rows["dan.zip"].status == REJECTED and "truncated ZIP" in rows["dan.zip"].reason
    assert rows["dan.zip"].student == "dan"  # told from the name, though the ZIP is unreadable
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["bob"]


# ------------------------------------------------------------------------------------- safety

def write_bomb(path: Path, megabytes: int) -> None:
    """A ZIP whose notebook inflates to `megabytes` MiB of zeros, written in 1 MiB pieces."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("report.pdf", pdf_bytes(1))
        info = zipfile.ZipInfo("vae_speech.ipynb")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            zeros = bytes(2**20)
            for _ in range(megabytes):
                member.write(zeros)


def test_zip_bomb_is_rejected_without_inflating(course, zips):
    write_bomb(zips / "alice.zip", 300)
    assert (zips / "alice.zip").stat().st_size < 2 * 2**20
    row = only_row(zips, course)
    assert row.status == REJECTED and "ZIP bomb" in row.reason
    assert nothing_filed(course)


def test_bomb_under_the_declared_limits_still_stops_at_the_cap(course, zips, monkeypatch):
    # Headers within every declared limit, but more bytes than the reading budget: the reader
    # counts what it inflates and stops, it does not trust the directory.
    make_zip(zips, "alice.zip", good())
    monkeypatch.setattr(zip_checks, "MAX_TOTAL_BYTES", 10**9)  # the declared-size check passes ...
    with zipfile.ZipFile(zips / "alice.zip") as archive:
        entry = archive.getinfo("vae_speech.ipynb")
        assert len(zip_checks.read_capped(archive, entry, 10**9)) == entry.file_size
        with pytest.raises(zip_checks.Rejected, match="ZIP bomb"):
            zip_checks.read_capped(archive, entry, 1000)  # ... the reading budget does not


def patched(data: bytes, signature: bytes, offset: int, value: int) -> bytes:
    """`data` with the 2-byte field at `offset` of every header starting with `signature` set."""
    out, start = bytearray(data), 0
    while (start := data.find(signature, start)) >= 0:
        struct.pack_into("<H", out, start + offset, value)
        start += 4
    return bytes(out)


@pytest.mark.parametrize("kind, reason", [
    ("parent", "'..' part"), ("absolute", "absolute path"), ("symlink", "symbolic link"),
    ("encrypted", "encrypted"),
])
def test_unsafe_entries_reject_the_zip(course, zips, kind, reason):
    path = zips / "alice.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("report.pdf", pdf_bytes(1))
        if kind == "parent":
            archive.writestr("../evil.ipynb", notebook_bytes())
        elif kind == "absolute":
            archive.writestr("/tmp/evil.ipynb", notebook_bytes())
        elif kind == "symlink":
            link = zipfile.ZipInfo("vae_speech.ipynb")
            link.create_system, link.external_attr = 3, 0o120777 << 16
            archive.writestr(link, "/etc/passwd")
        else:
            archive.writestr("vae_speech.ipynb", notebook_bytes())
    if kind == "encrypted":  # zipfile cannot write encrypted entries: set the flag in both headers
        data = patched(path.read_bytes(), b"PK\x03\x04", 6, 1)
        path.write_bytes(patched(data, b"PK\x01\x02", 8, 1))
    row = only_row(zips, course)
    assert row.status == REJECTED and reason in row.reason, row.reason
    assert nothing_filed(course)
    assert not (course.parent / "evil.ipynb").exists() and not Path("/tmp/evil.ipynb").exists()


# --------------------------------------------------------------------- duplicates and re-runs

def test_latest_of_two_submissions_is_kept(course, zips):
    make_zip(zips, "alice_v1.zip", good(pages=1), minutes=0)
    make_zip(zips, "alice_v2.zip", good(pages=2), minutes=30)
    rows = main(zips, course)
    assert [(r.file, r.status, r.reason) for r in rows] == [
        ("alice_v1.zip", DUPLICATE, "older than alice_v2.zip"), ("alice_v2.zip", ACCEPTED, "")]
    folder = course / "submitted" / "alice" / "vae_speech"
    assert (folder / "report.pdf").read_bytes() == pdf_bytes(2)
    # Later, only an even older ZIP turns up: the filed submission stays, the record says why.
    for path in zips.iterdir():
        path.unlink()
    make_zip(zips, "alice_old.zip", good(pages=3), minutes=-60)
    row = only_row(zips, course)
    assert (row.status, row.reason) == (DUPLICATE, "older than alice_v2.zip")
    assert (folder / "report.pdf").read_bytes() == pdf_bytes(2)
    with open(course / "intake.csv", newline="") as handle:
        recorded = {r["file"]: r["status"] for r in csv.DictReader(handle)}
    assert recorded == {"alice_old.zip": DUPLICATE, "alice_v1.zip": DUPLICATE, "alice_v2.zip": ACCEPTED}


def test_a_newer_zip_replaces_the_filed_submission(course, zips):
    make_zip(zips, "alice_v1.zip", good(pages=1), minutes=0)
    main(zips, course)
    make_zip(zips, "alice_v2.zip", good(pages=3), minutes=90)
    rows = main(zips, course)
    assert [(r.file, r.status) for r in rows] == [("alice_v1.zip", DUPLICATE), ("alice_v2.zip", ACCEPTED)]
    assert "replaces the submission" in rows[1].note
    folder = course / "submitted" / "alice" / "vae_speech"
    assert (folder / "report.pdf").read_bytes() == pdf_bytes(3)
    assert (folder / "timestamp.txt").read_text() == "2025-03-01 10:30:00.000000 UTC"
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice"]


def test_rerun_is_idempotent(course, zips):
    make_zip(zips, "alice.zip", good(), minutes=1)
    make_zip(zips, "bob_1.zip", good(pages=1), minutes=2)
    make_zip(zips, "bob_2.zip", good(pages=2), minutes=3)
    make_zip(zips, "carl.zip", {"report.pdf": pdf_bytes(1)}, minutes=4)
    first = main(zips, course)
    files, record = tree(course / "submitted"), (course / "intake.csv").read_bytes()
    second = main(zips, course)
    assert [r.status for r in first] == [ACCEPTED, DUPLICATE, ACCEPTED, REJECTED]
    assert [r.status for r in second] == [UNCHANGED, DUPLICATE, UNCHANGED, REJECTED]
    assert [(r.file, r.student, r.reason, r.timestamp, r.notebook_sha256, r.pdf_pages) for r in first] == \
        [(r.file, r.student, r.reason, r.timestamp, r.notebook_sha256, r.pdf_pages) for r in second]
    assert tree(course / "submitted") == files
    assert (course / "intake.csv").read_bytes() == record


def test_a_failure_midway_leaves_no_partial_folder(course, zips, monkeypatch):
    make_zip(zips, "alice.zip", good())
    make_zip(zips, "bob.zip", good())

    def broken(sub, the_course):
        raise OSError("disk full")

    monkeypatch.setattr(intake, "place", broken)
    with pytest.raises(OSError, match="disk full"):
        main(zips, course)
    assert nothing_filed(course)
    assert not (course / "intake.csv").exists()


# ------------------------------------------------------------------------ whole-call problems

def test_problems_with_the_call_say_what_to_do(course, zips, tmp_path):
    with pytest.raises(VaelabError, match="is not a folder"):
        main(tmp_path / "missing", course)
    (zips / "._alice.zip").write_bytes(b"AppleDouble")  # macOS noise only
    with pytest.raises(VaelabError, match="no \\*.zip files"):
        main(zips, course)
    make_zip(zips, "alice.zip", good())
    with pytest.raises(VaelabError, match="vaelab grade init"):
        main(zips, tmp_path / "not_a_course")
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\nalice,Alice\n")
    with pytest.raises(VaelabError, match="no 'student_id' column"):
        main(zips, course, roster=roster)
    with pytest.raises(VaelabError, match="cannot read the roster"):
        main(zips, course, roster=tmp_path / "no_roster.csv")
    assert not (course / "submitted").exists() and not (course / "intake.csv").exists()
