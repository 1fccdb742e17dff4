"""A course's stored bands (COURSE/grading/bands.json and grading/reference_probes.pt, paths from
grader.course.Course): what they were made from, and reading them back checked current.

`vaelab grade bands` (grader/workflow/bands.py) makes them and stores them with `save`; autograde
refuses to start without current ones and `GradingInputs.from_course` (grader/engine/inputs.py)
sends them to the workers. This module imports nothing of the grader at run time: the engine
reads the bands through it without reaching up into the workflow.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError
from vaelab_core.provenance import sha256_file

if TYPE_CHECKING:
    from grader.course import Course


class StaleBandsError(VaelabError):
    """The bands are missing or were made from other data or rules than the course's."""


def fingerprint(course: Course) -> dict[str, str]:
    """Checksums of everything the bands depend on."""
    task = course.task
    data = {f"{name}/{f.relative_to(path)}" if path.is_dir() else name: sha256_file(f)
            for name, path in course.data_paths.items()
            for f in (sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])}
    return {**{f"speaker_{s}": sha256_file(p) for s, p in course.speakers.items()}, **data,
            "source_notebook": sha256_file(task.notebook_path), "grading_rules": sha256_file(task.grading_path)}


def save(course: Course, stored: dict, probes: dict) -> None:
    """Store the bands record `stored` ({"fingerprint": fingerprint(course), "bands": ..., and
    what the record tells of the runs}) and the reference's `probes` (plain tensors and numbers).
    The probes are written first, the bands last: current bands say the rest is current."""
    import torch

    with atomic_path(course.reference_probes_path) as tmp:
        torch.save({"fingerprint": stored["fingerprint"], "probes": probes}, tmp)
    with atomic_path(course.bands_path) as tmp:
        tmp.write_text(json.dumps(stored, indent=1) + "\n")


def load_bands(course: Course) -> dict:
    """The course's bands, checked against the current data and rules; raises StaleBandsError."""
    path = course.bands_path
    if not path.is_file():
        raise StaleBandsError(f"{path}: no grading bands yet. Run `vaelab grade bands --course {course.root}` "
                              "(it runs the reference notebook on the course's data, a minute or two).")
    stored = json.loads(path.read_text())
    changed = sorted(k for k, v in fingerprint(course).items() if stored.get("fingerprint", {}).get(k) != v)
    if changed:
        raise StaleBandsError(f"{path} was made from other inputs than the course's current ones "
                              f"({', '.join(changed)} changed). Run `vaelab grade bands --course {course.root}` "
                              "again, then autograde.")
    return stored["bands"]


def load_reference_probes(course: Course) -> bytes:
    """The reference's probes stored with the bands (torch.save bytes), checked current."""
    import torch

    path = course.reference_probes_path
    data = path.read_bytes() if path.is_file() else b""
    try:
        stored = torch.load(io.BytesIO(data), weights_only=True)
    except Exception:
        stored = {}
    if stored.get("fingerprint") != fingerprint(course):
        raise StaleBandsError(f"{path}: missing or made from other inputs than the course's current ones. "
                              f"Run `vaelab grade bands --course {course.root}` again, then autograde.")
    buffer = io.BytesIO()
    torch.save(stored["probes"], buffer)
    return buffer.getvalue()
