"""Checkpoints: plain dicts saved with torch.save and loaded with `weights_only=True`.

A checkpoint holds
  model       the state dict (tensors only)
  config      the model's dimensions and how it was trained
  epoch       epochs trained
  history     the training history (see `vaelab_core.training`)
  provenance  where it came from: data manifest hash, command, best loss, and the package
              versions (`vaelab_core.provenance`: the same keys as in dataset manifests)

`load_pretrained(model)` puts the shipped pre-trained weights into a student's own model,
matching parts by the contract's attribute names rather than by state-dict keys, so a model
written with other layer containers (Sequential, ModuleList, named layers) still loads.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import torch
from torch import nn

from vaelab_core import spec
from vaelab_core.atomic_files import atomic_path, check_writable
from vaelab_core.errors import VaelabError
from vaelab_core.provenance import with_versions

#: The shipped checkpoint, trained on 251 LibriSpeech readers (see the README for the command).
PRETRAINED_NAME = "speech_vae_librispeech251_warmup_freebits.pt"


class CheckpointError(VaelabError):
    """A checkpoint that cannot be read or does not fit the model, with what differs."""


def pretrained_path() -> Path:
    """Path of the pre-trained checkpoint shipped with vaelab_core."""
    return Path(str(files("vaelab_core") / "pretrained" / PRETRAINED_NAME))


def model_config(model: nn.Module) -> dict:
    """The dimensions of a model following the lab contract."""
    return {name: getattr(model, name) for name in ("x_dim", "z_dim", "encoder_hidden", "decoder_hidden")
            if hasattr(model, name)}


def save_checkpoint(path: str | Path, model: nn.Module, *, epoch: int, history: dict | None = None,
                    config: dict | None = None, provenance: dict | None = None,
                    force: bool = False) -> Path:
    """Write a checkpoint dict atomically; refuses to overwrite unless `force`."""
    path = check_writable(path, force)
    checkpoint = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": {**model_config(model), **(config or {})},
        "epoch": int(epoch),
        "history": history or {},
        "provenance": with_versions(provenance or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint safely (`weights_only=True`: tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged or unsafe file
        raise CheckpointError(f"{path}: cannot load it as a vaelab checkpoint ({err}).") from err
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise CheckpointError(f"{path}: not a vaelab checkpoint (a dict with a 'model' state dict).")
    return checkpoint


def _part_tensors(state: dict[str, torch.Tensor], part: str) -> list[tuple[str, torch.Tensor]]:
    """The entries of `state` under `part.`, in order."""
    return [(k, v) for k, v in state.items() if k == part or k.startswith(part + ".")]


def _describe(entries: list[tuple[str, tuple]]) -> str:
    return ", ".join(f"{name} {list(shape)}" for name, shape in entries) or "nothing"


def load_state_by_parts(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy `state` into `model` part by part (`spec.MODEL_PARTS`), tensor by tensor in order.

    Raises CheckpointError listing, for every part that does not fit, the names and shapes
    expected (from the checkpoint) next to those found in the model.
    """
    problems = []
    assignments = []
    for part in spec.MODEL_PARTS:
        expected = _part_tensors(state, part)
        module = getattr(model, part, None)
        if not isinstance(module, nn.Module):
            problems.append(f"- {part}: expected a layer or a container with "
                            f"{_describe([(k, tuple(v.shape)) for k, v in expected])}; "
                            f"the model has no attribute {part!r} (the names are part of the lab contract)")
            continue
        found = [(f"{part}.{k}", v) for k, v in module.state_dict(keep_vars=True).items()]
        shapes_ok = len(expected) == len(found) and all(
            tuple(e.shape) == tuple(f.shape) for (_, e), (_, f) in zip(expected, found))
        if not shapes_ok:
            problems.append(f"- {part}: expected {_describe([(k, tuple(v.shape)) for k, v in expected])}; "
                            f"found {_describe([(k, tuple(v.shape)) for k, v in found])}")
            continue
        assignments += [(f, e) for (_, e), (_, f) in zip(expected, found)]
    extra = sorted({k.split(".")[0] for k in state} - set(spec.MODEL_PARTS))
    if extra:
        problems.append(f"- the checkpoint has parts the lab contract does not name: {extra}")
    if problems:
        raise CheckpointError("the checkpoint does not fit this model:\n" + "\n".join(problems)
                              + "\nCompare the layer sizes in build() with the handout (2.3).")
    with torch.no_grad():
        for target, source in assignments:
            target.copy_(source)


def load_pretrained(model: nn.Module, path: str | Path | None = None) -> nn.Module:
    """Load the pre-trained weights (shipped, or `path`) into `model`; returns `model`."""
    checkpoint = load_checkpoint(path or pretrained_path())
    load_state_by_parts(model, checkpoint["model"])
    return model
