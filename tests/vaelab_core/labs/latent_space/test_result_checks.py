"""latent_space's result checks: each records its numbers, then stops a wrong result with a
message that says what to look at."""

from __future__ import annotations

import pytest
import torch

from vaelab_core.checking import SelfCheckFailed
from vaelab_core.labs.latent_space.result_checks import check_beta_runs, check_moves, check_subspaces, check_wae


def test_subspaces_check_the_alignment_shapes():
    dims = {"f0": 2, "f1": 1, "f2": 1, "f3": 1}
    alignment = {f"{a}-{b}": torch.zeros(dims[a], dims[b])
                 for i, a in enumerate(dims) for b in list(dims)[i + 1:]}
    check_subspaces(dims, alignment)
    alignment["f0-f1"] = torch.zeros(1, 2)
    with pytest.raises(SelfCheckFailed, match="2 x 1 matrix"):
        check_subspaces(dims, alignment)


def test_moves_need_finite_errors_and_every_other_factor():
    good = {"f0": {"error": 0.1, "correlation": 0.5, "baseline": 0.1, "others": {"f1": 0.1, "f2": 0.1, "f3": 0.1}},
            "f1": {"error": 0.2, "correlation": 0.5, "baseline": 0.1, "others": {"f0": 0.1, "f2": 0.1, "f3": 0.1}}}
    check_moves(good)
    good["f1"]["others"].pop("f3")
    with pytest.raises(SelfCheckFailed, match="each other factor"):
        check_moves(good)


def test_beta_runs_notice_a_beta_that_does_not_weigh_the_kl():
    runs = {name: {"train": {"recon": [2.0, 1.0], "kl": [1.0, kl]}}
            for name, kl in (("beta=0.5", 1.0), ("beta=1", 2.0), ("beta=4", 3.0), ("warm-up", 2.0),
                             ("warm-up to 4", 1.5))}
    active = dict.fromkeys(runs, 16)
    with pytest.raises(SelfCheckFailed, match="beta on the KL"):
        check_beta_runs(runs, active, epochs=2)


def test_wae_records_its_curves(capsys):
    check_wae({"train": {"recon": [3.0, 1.0], "kl": [0.2, 0.1]}}, {"VAE beta=1": 0.1, "WAE": 0.05}, epochs=2,
              eval_recon={"VAE beta=1": -500.0, "WAE": -510.0})
    assert "✓ WAE" in capsys.readouterr().out
