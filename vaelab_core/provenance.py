"""Where an output came from: the package versions and the checksums recorded beside it.

Every provenance record of the kit carries the same version keys (`package_versions`) at its
top level, added by `with_versions`:
  dataset manifest            the manifest JSON inside the .npz     (data_prep.build)
  synthetic corpus manifest   OUT/synth_manifest.json               (data_prep.synth)
  checkpoint                  checkpoint["provenance"]              (vaelab_core.checkpoints)
so that a result can be traced to the libraries that made it, whichever file it started from.
(Top level rather than a sub-dict: the shipped pre-trained checkpoint already records them so.)
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path

#: Bytes read at a time when hashing a file: a large recording or dataset is never held whole.
HASH_CHUNK = 1 << 20


def package_versions() -> dict[str, str]:
    """Versions that matter for reproducing an output: {package: version}, plain strings.

    Keys: vaelab, torch, torchaudio, numpy, soundfile and libsndfile (the decoder it wraps;
    "not installed" when soundfile cannot be imported), python. Plain `str` values, not
    torch's TorchVersion: checkpoints are read back with `torch.load(weights_only=True)`.
    """
    import numpy
    import torch

    import vaelab_core
    from vaelab_core.installation import load_torchaudio

    torchaudio = load_torchaudio()

    try:
        import soundfile
        soundfile_version, libsndfile_version = soundfile.__version__, soundfile.__libsndfile_version__
    except (ImportError, OSError):  # OSError: the package is there but libsndfile is not
        soundfile_version = libsndfile_version = "not installed"
    return {
        "vaelab": str(vaelab_core.__version__),
        "torch": str(torch.__version__),
        "torchaudio": str(torchaudio.__version__),
        "numpy": str(numpy.__version__),
        "soundfile": str(soundfile_version),
        "libsndfile": str(libsndfile_version),
        "python": platform.python_version(),
    }


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of the file at `path`, read in chunks. Raises OSError if it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def with_versions(record: dict) -> dict:
    """`record` with the package versions added at its top level; the record's own keys win."""
    return {**package_versions(), **record}
