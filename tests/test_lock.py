"""pyproject.toml and requirements.lock agree, and this environment was installed through the lock.

The lock (made by `uv pip compile`, README "Installing and the lock") pins every package that pip
installs; pyproject.toml says what vaelab needs. Two oracles:
- the lock against pyproject: every requirement is locked at a version inside its range, and the
  lock's direct dependencies ("via vaelab (pyproject.toml)") are exactly pyproject's;
- the lock against the installed metadata: starting from pyproject's requirements and following
  each installed distribution's own `Requires-Dist` (markers evaluated here), one reaches exactly
  the lock's packages for this platform, each installed at its locked version.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
REFRESH = "refresh the lock as the README says (Installing and the lock)"


@dataclass(frozen=True)
class Locked:
    """One line of the lock: `name==version ; marker`, with the packages it was pulled in by."""

    name: str
    version: str
    marker: Marker | None
    via: tuple[str, ...]

    def applies_here(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def read_lock(text: str) -> list[Locked]:
    """The entries of a requirements file written by `uv pip compile --universal` (or pip-compile)."""
    entries: list[Locked] = []
    current: dict | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not line.startswith((" ", "#")):
            requirement = Requirement(stripped)
            (spec,) = requirement.specifier  # a lock pins each entry with one `==`
            assert spec.operator == "==", f"lock line {line!r} is not an exact pin"
            current = {"name": canonicalize_name(requirement.name), "version": spec.version,
                       "marker": requirement.marker, "via": []}
            entries.append(current)
        elif current is not None and line.startswith("    #"):
            via = stripped.lstrip("#").strip()
            via = via.removeprefix("via").strip()
            if via:
                current["via"].append(via)
    return [Locked(e["name"], e["version"], e["marker"], tuple(e["via"])) for e in entries]


def project_requirements(pyproject: dict, extras: tuple[str, ...] = ("dev",)) -> list[Requirement]:
    project = pyproject["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    return [Requirement(line) for line in lines]


def disagreements(requirements: list[Requirement], lock: list[Locked]) -> list[str]:
    """What pyproject's requirements and the lock disagree on; [] when they agree."""
    problems = []
    by_name: dict[str, list[Locked]] = {}
    for entry in lock:
        by_name.setdefault(entry.name, []).append(entry)
    wanted = {canonicalize_name(r.name): r for r in requirements}
    for name, requirement in wanted.items():
        if name not in by_name:
            problems.append(f"{name} is in pyproject.toml but not in requirements.lock")
            continue
        for entry in by_name[name]:
            if not requirement.specifier.contains(entry.version, prereleases=True):
                problems.append(f"requirements.lock pins {name}=={entry.version}, outside pyproject.toml's "
                                f"{requirement}")
    direct = {entry.name for entry in lock if any(v.startswith("vaelab") for v in entry.via)}
    for name in sorted(direct - set(wanted)):
        problems.append(f"requirements.lock has {name} as a dependency of vaelab, which pyproject.toml no "
                        "longer lists")
    return problems


def installed_closure(requirements: list[Requirement]) -> dict[str, str]:
    """{name: installed version} of every distribution that `requirements` pull in on this machine."""
    found: dict[str, str] = {}
    todo = list(requirements)
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        found[name] = metadata.version(name)
        for line in metadata.requires(name) or []:
            child = Requirement(line)
            environments = [{"extra": e} for e in extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                todo.append(child)
    return found


@pytest.fixture(scope="module")
def lock() -> list[Locked]:
    assert LOCK.is_file(), f"{LOCK} is missing; {REFRESH}"
    return read_lock(LOCK.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_lock_agrees_with_pyproject(lock, pyproject):
    problems = disagreements(project_requirements(pyproject), lock)
    assert not problems, "; ".join(problems) + f"; {REFRESH}"


def test_torch_and_torchaudio_are_pinned_exactly_in_both(lock, pyproject):
    pins = {canonicalize_name(r.name): r for r in project_requirements(pyproject)}
    locked = {e.name: e.version for e in lock}
    for name in ("torch", "torchaudio"):
        (spec,) = pins[name].specifier
        assert spec.operator == "==" and "*" not in spec.version, \
            f"pyproject.toml pins {pins[name]}: torchaudio's builds need one exact torch, so pin the tested pair with =="
        assert locked[name] == spec.version, (name, locked[name], spec.version)


def test_build_backend_is_the_locked_setuptools(lock, pyproject):
    locked = {e.name: e.version for e in lock}
    (requirement,) = [Requirement(r) for r in pyproject["build-system"]["requires"]]
    assert canonicalize_name(requirement.name) == "setuptools"
    assert str(requirement.specifier) == f"=={locked['setuptools']}", \
        f"[build-system] requires {requirement}, the lock has setuptools=={locked['setuptools']}: make them one"


def test_this_environment_is_the_locked_one(lock, pyproject):
    """The README's test command installs through the lock: the installed closure is the lock's."""
    closure = installed_closure(project_requirements(pyproject))
    here = {e.name: e for e in lock if e.applies_here()}
    missing = sorted(set(here) - set(closure) - {"setuptools"})  # setuptools: the build backend too
    unlocked = sorted(set(closure) - set(here))
    assert not unlocked, f"installed dependencies that requirements.lock does not pin: {unlocked}; {REFRESH}"
    assert not missing, f"requirements.lock pins packages nothing requires any more: {missing}; {REFRESH}"
    off = sorted(f"{n} {closure[n]} (lock: {here[n].version})" for n in closure
                 if not Requirement(f"{n}=={here[n].version}").specifier.contains(closure[n], prereleases=True))
    assert not off, (f"this environment was not installed through requirements.lock: {off}; install it with "
                     "the README's test command")


# The checker itself, on small inputs: each kind of disagreement is caught.

LOCK_TEXT = """\
# This file was autogenerated by uv via the following command:
#    uv pip compile pyproject.toml -o requirements.lock
numpy==2.4.6 ; python_full_version < '3.12'
    # via vaelab (pyproject.toml)
numpy==2.5.5 ; python_full_version >= '3.12'
    # via vaelab (pyproject.toml)
torch==2.11.0
    # via
    #   torchaudio
    #   vaelab (pyproject.toml)
oldlib==1.0
    # via vaelab (pyproject.toml)
sympy==1.14.0
    # via torch
"""


def test_reading_a_lock_keeps_markers_and_origins():
    entries = read_lock(LOCK_TEXT)
    assert [e.name for e in entries] == ["numpy", "numpy", "torch", "oldlib", "sympy"]
    assert entries[2].via == ("torchaudio", "vaelab (pyproject.toml)")
    assert entries[4].via == ("torch",)
    assert str(entries[0].marker) == 'python_full_version < "3.12"'


@pytest.mark.parametrize("requirements, expected", [
    (["numpy>=1.26", "torch==2.11.0", "oldlib"], []),
    (["numpy>=1.26", "torch==2.11.0", "oldlib", "tqdm>=4"], ["tqdm is in pyproject.toml but not"]),
    (["numpy>=2.5", "torch==2.11.0", "oldlib"], ["pins numpy==2.4.6, outside"]),
    (["numpy>=1.26", "torch==2.11.1", "oldlib"], ["pins torch==2.11.0, outside"]),
    (["numpy>=1.26", "torch==2.11.0"], ["oldlib as a dependency of vaelab, which pyproject.toml no longer"]),
])
def test_each_disagreement_is_reported(requirements, expected):
    problems = disagreements([Requirement(r) for r in requirements], read_lock(LOCK_TEXT))
    assert len(problems) == len(expected), problems
    for problem, wanted in zip(problems, expected):
        assert wanted in problem, problems
    assert all(re.search(r"pyproject\.toml|requirements\.lock", p) for p in problems)
