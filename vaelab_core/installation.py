"""The installed environment: the torch/torchaudio pair vaelab was tested with, and loading torchaudio.

torchaudio's registry builds are compiled against one exact torch build. A mismatched pair (say
torchaudio 2.11.1 beside torch 2.11.0) imports torch fine and then fails when torchaudio loads
its C++ library, with an OSError ("undefined symbol: ...") at the end of a long traceback.
`load_torchaudio` turns that into one sentence naming the versions found and the command that
installs the tested pair; the `vaelab` command and the notebooks' first cell go through it.

The tested pair is read from the installed distribution's own requirements (`vaelab` from the
repository, `vaelab-core` from the student wheel), so pyproject.toml stays the one place it is
written.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from types import ModuleType

from vaelab_core.errors import VaelabError

#: The distributions that carry vaelab_core: the repository's project, then the student wheel.
DISTRIBUTIONS = ("vaelab", "vaelab-core")

#: The libraries that must come as an exactly matching pair.
PAIR = ("torch", "torchaudio")


class InstallError(VaelabError):
    """torch and torchaudio cannot be used together in this environment; the message says how to fix it."""

    def _render_traceback_(self) -> list[str]:
        # IPython (the notebook) prints what this returns instead of the traceback: the sentence
        # is the whole story, the 40 lines of import machinery above it are not.
        return [f"{type(self).__name__}: {self}"]


def tested_pins() -> dict[str, str]:
    """{"torch": "2.11.0", "torchaudio": "2.11.0"}: the exact pins of the installed vaelab, or {}."""
    for distribution in DISTRIBUTIONS:
        try:
            requires = metadata.requires(distribution) or []
        except metadata.PackageNotFoundError:
            continue
        pins = pair_pins(requires)
        if pins:
            return pins
    return {}


def pair_pins(requirements: list[str]) -> dict[str, str]:
    """The exact pins of torch and torchaudio among requirement strings ("torch==2.11.0" -> "2.11.0")."""
    pins = {}
    for requirement in requirements:
        found = re.match(r"^\s*(torch|torchaudio)\s*==\s*([^\s;,]+)", requirement)
        if found:
            pins[found.group(1)] = found.group(2)
    return pins


def installed_version(distribution: str) -> str:
    """The installed version of `distribution` ("2.11.0+cu130"), or "not installed"."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def fix_command(pins: dict[str, str]) -> str:
    """The pip command that installs the tested pair into this very Python."""
    wanted = " ".join(f'"{name}=={pins[name]}"' for name in PAIR if name in pins)
    return f'"{sys.executable}" -m pip install {wanted}'


def _reason(error: BaseException) -> str:
    """The telling part of a loading error: "undefined symbol: X" when there is one, else its first line."""
    text = str(error)
    symbol = re.search(r"undefined symbol: \S+", text)
    if symbol:
        return symbol.group(0)
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first if len(first) <= 160 else first[:157] + "..."


def explain(error: BaseException) -> InstallError:
    """The InstallError for a failed torchaudio import: versions found, tested pair, fixing command."""
    found = {name: installed_version(name) for name in PAIR}
    pins = tested_pins()
    if found["torchaudio"] == "not installed":
        problem = f"torchaudio is not installed beside torch {found['torch']}"
    else:
        problem = (f"torchaudio {found['torchaudio']} cannot be loaded beside torch {found['torch']} "
                   f"({_reason(error)})")
    if pins:
        tested = " and ".join(f"{name} {pins[name]}" for name in PAIR if name in pins)
        remedy = f"vaelab was tested with {tested}: run `{fix_command(pins)}`"
    else:
        remedy = ("vaelab needs the torchaudio release built for this torch: install the pair pinned in "
                  "vaelab's pyproject.toml")
    return InstallError(f"{problem}; {remedy}, then restart Python (in Jupyter: Kernel > Restart).")


def load_torchaudio() -> ModuleType:
    """Import torchaudio, or raise InstallError with one sentence saying what to install."""
    try:
        import torchaudio
    except (ImportError, OSError) as error:  # a missing module, or its C++ library failing to load
        raise explain(error) from None
    return torchaudio


def check_installation() -> str:
    """Load torch and torchaudio together; returns "torch 2.11.0+cu130, torchaudio 2.11.0+cu130".

    Raises InstallError (one sentence, with the fixing command) when torchaudio cannot be loaded.
    The notebooks call this in their first cell, before anything else of the kit.
    """
    import torch

    torchaudio = load_torchaudio()
    # The loaded modules' own versions: reading them from the packages' metadata files would
    # cost about 0.2 s, paid in every graded kernel and probe.
    return f"torch {torch.__version__}, torchaudio {torchaudio.__version__}"
