"""Checkpoints load safely, and by the contract's part names into differently written models."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from grader.assignment import default_solutions, load_reference
from vaelab_core import checkpoints, spec
from vaelab_core.checkpoints import CheckpointError, load_checkpoint, load_state_by_parts, save_checkpoint
from vaelab_core.errors import VaelabError
from vaelab_core.provenance import package_versions

Reference = load_reference(default_solutions())


class NamedLayers(Reference):
    """Same architecture, other containers: named layers, a ModuleList, functional tanh."""

    def build(self):
        sizes = (self.x_dim, *self.encoder_hidden)
        self.mlp_x_z = nn.Sequential(OrderedDict(
            [(f"dense{i}", nn.Linear(a, b)) for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]))
        self.inf_mean = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        self.inf_logvar = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        sizes = (self.z_dim, *self.decoder_hidden)
        self.mlp_z_x = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.gen_logvar = nn.Linear(self.decoder_hidden[-1], self.x_dim)

    def _encode(self, x):
        for layer in self.mlp_x_z:
            x = torch.tanh(layer(x))
        return x

    def generation_x(self, z):
        for layer in self.mlp_z_x:
            z = torch.tanh(layer(z))
        return self.gen_logvar(z)

    def inference(self, x):
        hidden = self._encode(x)
        mean, logvar = self.inf_mean(hidden), self.inf_logvar(hidden)
        return self.reparametrization(mean, logvar), mean, logvar


def test_round_trip_and_equivalent_containers(tmp_path):
    torch.manual_seed(0)
    source = Reference()
    path = save_checkpoint(tmp_path / "m.pt", source, epoch=3, history={"train": {"total": [1.0]}},
                           provenance={"note": "test"})
    checkpoint = load_checkpoint(path)
    assert checkpoint["epoch"] == 3 and checkpoint["provenance"]["note"] == "test"
    # The package versions sit at the provenance's top level, as in dataset manifests.
    assert {k: checkpoint["provenance"][k] for k in package_versions()} == package_versions()
    assert checkpoint["provenance"]["torch"] == str(torch.__version__)

    target = NamedLayers()
    load_state_by_parts(target, checkpoint["model"])
    x = torch.rand(2, 4, spec.N_FREQ)
    with torch.no_grad():
        assert torch.allclose(source.inference(x)[1], target.inference(x)[1])
        z = torch.randn(2, 4, spec.LATENT_DIM)
        assert torch.allclose(source.generation_x(z), target.generation_x(z))


def test_mismatch_lists_expected_and_found_names_and_shapes(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", Reference(), epoch=1)

    class Smaller(Reference):
        def build(self):
            super().build()
            self.mlp_z_x = nn.Sequential(nn.Linear(self.z_dim, 64), nn.Tanh(), nn.Linear(64, 256), nn.Tanh())

    with pytest.raises(CheckpointError) as failure:
        checkpoints.load_pretrained(Smaller(), path)
    message = str(failure.value)
    assert "mlp_z_x: expected mlp_z_x.0.weight [32, 16]" in message
    assert "found mlp_z_x.0.weight [64, 16]" in message
    assert "Traceback" not in message and "state_dict" not in message


def test_missing_part_is_named(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", Reference(), epoch=1)

    class Renamed(Reference):
        def build(self):
            super().build()
            self.head = self.gen_logvar
            del self.gen_logvar

    with pytest.raises(CheckpointError, match="no attribute 'gen_logvar'"):
        checkpoints.load_pretrained(Renamed(), path)


def test_unsafe_or_broken_files_are_refused(tmp_path):
    pickled = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": object()}, pickled)  # an arbitrary object needs pickle
    with pytest.raises(CheckpointError, match="cannot load"):
        load_checkpoint(pickled)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint(broken)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")


def test_existing_checkpoint_is_not_overwritten(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", Reference(), epoch=1)
    before = path.read_bytes()
    with pytest.raises(VaelabError, match="--force"):
        save_checkpoint(path, Reference(), epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
