"""Example submissions of vae_speech, each with the scores the grader must give it.

Instructor-only (they hold the solution): made from the student notebook of the release by
writing a model cell into it, and graded by `vaelab demo`, the end-to-end tests and the grading
benchmark. Each is a typical student outcome: correct in three ways of writing it, each method
wrong in its usual way, two subtle mistakes that pass their own method's shape checks, and a
notebook that shortens the training.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.kit.given_cells import filled_in

# Example names are student ids: one token each, so intake derives them from the ZIP names.

#: The five method tests and the four result tests, with their points in the notebook.
POINTS = {"test_build": 2, "test_generation_x": 2, "test_reparametrization": 3, "test_inference": 3,
          "test_get_loss": 4, "test_training": 3, "test_seeds": 3, "test_finetune": 3, "test_cross": 2}


def _solution_cell(grade_id: str) -> str:
    """The source of the solution notebook's cell `grade_id`, solution markers dropped (the code
    between them kept), so the examples are edits of the solution itself and cannot drift from it."""
    notebook = nbformat.read(Path(__file__).with_name("vae_speech.ipynb"), as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in notebook.cells}
    return filled_in(cells[grade_id])


#: The solution's model cell.
SOLUTION = _solution_cell("model")

#: A correct model written with ModuleLists walked by the methods with functional tanh.
MODULE_LIST = '''import math


class SpeechVAE(SpeechVAEBase):
    def build(self):
        enc = (self.x_dim, *self.encoder_hidden)
        dec = (self.z_dim, *self.decoder_hidden)
        self.mlp_x_z = nn.ModuleList(nn.Linear(a, b) for a, b in zip(enc[:-1], enc[1:]))
        self.inf_mean = nn.Linear(enc[-1], self.z_dim)
        self.inf_logvar = nn.Linear(enc[-1], self.z_dim)
        self.mlp_z_x = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dec[:-1], dec[1:]))
        self.gen_logvar = nn.Linear(dec[-1], self.x_dim)

    def generation_x(self, z):
        for layer in self.mlp_z_x:
            z = torch.tanh(layer(z))
        return self.gen_logvar(z)

    def reparametrization(self, mean, logvar):
        std = torch.exp(logvar / 2)
        return mean + std * torch.randn_like(std)

    def inference(self, x):
        for layer in self.mlp_x_z:
            x = torch.tanh(layer(x))
        mean = self.inf_mean(x)
        logvar = self.inf_logvar(x)
        z = self.reparametrization(mean, logvar)
        return z, mean, logvar

    def get_loss(self, x, eta, mean, logvar):
        recon = torch.sum(math.log(math.pi) + eta + x ** 2 / torch.exp(eta), dim=-1).mean()
        kl = torch.mean(-0.5 * torch.sum(1 + logvar - mean ** 2 - logvar.exp(), dim=-1))
        return recon + kl, recon, kl
'''


@dataclass(frozen=True)
class Example:
    """One example submission: how its model cell is made, extra cells, the expected scores."""

    description: str
    model_cell: str
    expected: dict[str, float]
    after_config: str | None = None  # source of a cell the student added after the config cell
    answers: bool = True  # the written answers are filled in (graded by hand later)


def _full(**lost: float) -> dict[str, float]:
    """The expected scores: full points except where given."""
    return {test: lost.get(test, points) for test, points in POINTS.items()}


def _edit(old: str, new: str, source: str = SOLUTION) -> str:
    assert old in source, old
    return source.replace(old, new)


#: The decoder's layers made before the encoder's: other initial weights, the same model.
REORDERED = _edit('''        self.mlp_x_z = dense_tanh((self.x_dim, *self.encoder_hidden))
        self.inf_mean = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        self.inf_logvar = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        self.mlp_z_x = dense_tanh((self.z_dim, *self.decoder_hidden))
        self.gen_logvar = nn.Linear(self.decoder_hidden[-1], self.x_dim)''', '''        self.gen_logvar = nn.Linear(self.decoder_hidden[-1], self.x_dim)
        self.mlp_z_x = dense_tanh((self.z_dim, *self.decoder_hidden))
        self.inf_logvar = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        self.inf_mean = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        self.mlp_x_z = dense_tanh((self.x_dim, *self.encoder_hidden))''')

EXAMPLES = {
    "correct": Example("the reference solution", SOLUTION, _full()),
    "modulelist": Example("correct, with ModuleLists walked by the methods and functional tanh",
                                  MODULE_LIST, _full()),
    "reordered": Example("correct, the layers made in another order (other initial weights)",
                                 REORDERED, _full()),
    "relu": Example("build: ReLU instead of tanh in the dense stacks",
                          _edit("nn.Tanh()", "nn.ReLU()"),
                          _full(test_build=1, test_training=2, test_seeds=2, test_finetune=0, test_cross=0)),
    "tanhout": Example("generation_x: a tanh on the output log-variance",
                                 _edit("return self.gen_logvar(self.mlp_z_x(z))",
                                       "return torch.tanh(self.gen_logvar(self.mlp_z_x(z)))"),
                                 _full(test_generation_x=1, test_training=2, test_seeds=2, test_finetune=1,
                                       test_cross=1)),
    "variance": Example(
        "reparametrization: exp(logvar) as the standard deviation (subtle: shapes pass)",
        _edit("torch.exp(0.5 * logvar)", "torch.exp(logvar)"),
        # The KL bands catch it; so does the pre-trained model's eval loss: the shipped model's posterior
        # log-variances are not 0 (the collapsed model's were), where exp(logvar) and exp(logvar / 2) differ.
        _full(test_reparametrization=1, test_training=2, test_seeds=2, test_finetune=2)),
    "detached": Example(
        "reparametrization: the sample cut from the graph (subtle: shapes and moments pass)",
        _edit("return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)",
              "return (mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)).detach()"),
        _full(test_reparametrization=2, test_training=2, test_seeds=2, test_finetune=1, test_cross=1)),
    "order": Example("inference: returns (mean, logvar, z) instead of (z, mean, logvar)",
                               _edit("return self.reparametrization(mean, logvar), mean, logvar",
                                     "return mean, logvar, self.reparametrization(mean, logvar)"),
                               # its fine-tuned losses land 2 to 4 spreads from the reference's: inside the
                               # fine-tuning bands (10 spreads) on any machine; the pre-trained losses catch it
                               _full(test_inference=0, test_training=2, test_seeds=2, test_finetune=2)),
    "nologpi": Example("get_loss: the log(pi) constant left out",
                                  _edit("spec.LOG_PI + eta", "eta"),
                                  _full(test_get_loss=2, test_training=2, test_seeds=2, test_finetune=1,
                                        test_cross=1)),
    "shortened": Example("correct model, but the notebook shortens the training", SOLUTION,
                                  _full(test_training=0, test_seeds=0, test_finetune=1, test_cross=0),
                                  after_config="EPOCHS = 3\nFINETUNE_EPOCHS = 2\nSEEDS = range(2)"),
    "blank": Example("the release notebook as handed out, nothing filled in",
                     "", {test: 0 for test in POINTS}, answers=False),
}


def make_submission(release: nbformat.NotebookNode, example: Example) -> nbformat.NotebookNode:
    """The student notebook of the release with the example's model cell (and extra cell)."""
    notebook = copy.deepcopy(release)
    cells = []
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id == "model" and example.model_cell:
            cell.source = example.model_cell
        elif cell.get("metadata", {}).get("nbgrader", {}).get("solution") and example.answers:
            cell.source = f"My answer to {grade_id}: a few sentences of the student's own."
        cells.append(cell)
        if grade_id == "config" and example.after_config:
            cells.append(nbformat.v4.new_code_cell(example.after_config))
    notebook.cells = cells
    for index, cell in enumerate(notebook.cells):  # new cells need ids of their own
        cell.setdefault("id", f"example-{index}")
    return notebook


def model_cell_lines(source: str) -> list[str]:
    """Code lines of a model cell (solution markers dropped), for leak checks."""
    return [line for line in (ln.strip() for ln in re.sub(r"### (BEGIN|END) SOLUTION", "", source).splitlines())
            if line]

#: What `vaelab demo` grades by default when it grades this lab: a correct submission and two
#: subtle mistakes whose shapes pass (the KL bands and the gradient probe catch them).
DEMO_EXAMPLES = ("correct", "variance", "detached")
