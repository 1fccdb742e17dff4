"""The hidden tests of the five methods, tested: every typical mistake of the self-checks'
catalogue fails its own part (and only its part), every accepted correct way of writing the
model gets full marks. Probes run in this process here (the grader runs them in another)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from grader.engine.judge import judge_tests
from grader.engine.probe import PROBE_SECONDS, call_probes, reference_probes
from grader.assignment import assignment, default_solutions
from tests.vaelab_core.labs.vae_speech.test_method_checks import (MISTAKES, ModuleListFunctionalTanh, Reference,
                                                                  variant)

TASK = assignment(default_solutions())
RULES = TASK.rules()
METHOD_POINTS = {"test_build": 2, "test_generation_x": 2, "test_reparametrization": 3, "test_inference": 3,
                 "test_get_loss": 4}


@pytest.fixture(scope="module")
def reference_results() -> dict:
    return reference_probes(TASK)


def grade(model_class: type, reference_results: dict, seconds: float = PROBE_SECONDS) -> dict:
    """{test: verdict} of the five method tests for `model_class`."""
    probes = call_probes(RULES, {"SpeechVAE": model_class}, TASK.reference_namespace(), seconds)
    return judge_tests(RULES, METHOD_POINTS, probes, reference_results, {}, {})


def test_the_method_points_agree_with_the_notebook():
    import nbformat

    notebook = nbformat.read(TASK.notebook_path, as_version=4)
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in notebook.cells
              if c.metadata.get("nbgrader", {}).get("grade_id") in METHOD_POINTS}
    assert points == METHOD_POINTS


@pytest.mark.parametrize("method, methods, message", MISTAKES, ids=[m[2] for m in MISTAKES])
def test_each_typical_mistake_loses_points_in_its_own_part_only(method, methods, message, reference_results):
    verdicts = grade(variant(**methods), reference_results)
    own = f"test_{method}"
    assert verdicts[own].score < METHOD_POINTS[own], verdicts[own].checks
    assert verdicts[own].messages, "a lost point must say why"
    others = {t: v.score for t, v in verdicts.items() if t != own}
    # a build that cannot take the weights is replaced by the reference's for the other methods
    assert others == {t: p for t, p in METHOD_POINTS.items() if t != own}


class NamedLayers(Reference):
    def build(self):
        enc, dec = (self.x_dim, *self.encoder_hidden), (self.z_dim, *self.decoder_hidden)
        self.mlp_x_z = nn.Sequential()
        for i, (a, b) in enumerate(zip(enc[:-1], enc[1:])):
            self.mlp_x_z.add_module(f"dense{i}", nn.Linear(a, b))
            self.mlp_x_z.add_module(f"tanh{i}", nn.Tanh())
        self.inf_mean, self.inf_logvar = nn.Linear(enc[-1], self.z_dim), nn.Linear(enc[-1], self.z_dim)
        self.mlp_z_x = nn.Sequential()
        for i, (a, b) in enumerate(zip(dec[:-1], dec[1:])):
            self.mlp_z_x.add_module(f"dense{i}", nn.Linear(a, b))
            self.mlp_z_x.add_module(f"tanh{i}", nn.Tanh())
        self.gen_logvar = nn.Linear(dec[-1], self.x_dim)


class OtherOrder(Reference):
    def build(self):
        self.gen_logvar = nn.Linear(self.decoder_hidden[-1], self.x_dim)
        dec = (self.z_dim, *self.decoder_hidden)
        self.mlp_z_x = nn.Sequential(*[m for a, b in zip(dec[:-1], dec[1:]) for m in (nn.Linear(a, b), nn.Tanh())])
        self.inf_logvar = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        self.inf_mean = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        enc = (self.x_dim, *self.encoder_hidden)
        self.mlp_x_z = nn.Sequential(*[m for a, b in zip(enc[:-1], enc[1:]) for m in (nn.Linear(a, b), nn.Tanh())])


class OtherSampling(Reference):
    """torch.randn(shape) in place of randn_like, std by sqrt(exp()): the same distribution."""

    def reparametrization(self, mean, logvar):
        return mean + torch.sqrt(torch.exp(logvar)) * torch.randn(mean.shape)


@pytest.mark.parametrize("model_class", [Reference, ModuleListFunctionalTanh, NamedLayers, OtherOrder, OtherSampling],
                         ids=lambda c: c.__name__)
def test_every_correct_way_of_writing_the_model_gets_full_marks(model_class, reference_results):
    verdicts = grade(model_class, reference_results)
    assert {t: v.score for t, v in verdicts.items()} == METHOD_POINTS, \
        {t: v.messages for t, v in verdicts.items() if v.messages}


def test_a_modulelist_encoder_with_functional_relu_loses_the_inference_points(reference_results):
    """The structure is right (build keeps its points); the behaviour is not (inference loses)."""

    class WalkedRelu(ModuleListFunctionalTanh):
        def inference(self, x):
            for layer in self.mlp_x_z:
                x = torch.relu(layer(x))
            mean, logvar = self.inf_mean(x), self.inf_logvar(x)
            return self.reparametrization(mean, logvar), mean, logvar

    verdicts = grade(WalkedRelu, reference_results)
    assert verdicts["test_build"].score == 2 and verdicts["test_generation_x"].score == 2
    assert verdicts["test_inference"].score == 1  # mean and logvar wrong, z from reparametrization right
    assert "tanh" in " ".join(verdicts["test_inference"].messages)


def test_a_method_that_never_returns_is_stopped_and_costs_only_its_part(reference_results):
    def endless(self, z):
        while True:
            pass

    verdicts = grade(variant(generation_x=endless), reference_results, seconds=1)
    assert verdicts["test_generation_x"].score == 0
    assert "longer than 1 s" in verdicts["test_generation_x"].error
    assert verdicts["test_get_loss"].score == 4


def test_hints_name_the_likely_mistake(reference_results):
    from tests.vaelab_core.labs.vae_speech.test_method_checks import exp_logvar_as_std, without_log_pi

    verdicts = grade(variant(get_loss=without_log_pi), reference_results)
    assert "log(pi)" in verdicts["test_get_loss"].messages[0]
    verdicts = grade(variant(reparametrization=exp_logvar_as_std), reference_results)
    assert "exp(logvar / 2)" in " ".join(verdicts["test_reparametrization"].messages)
