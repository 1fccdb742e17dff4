"""Example submissions of synth, each with the scores the grader must give it.

Instructor-only (they hold the solution): made from the student notebook of the release by
writing the solution cells into it, and graded by `vaelab demo`, the end-to-end tests and the
grading benchmark. The correct cells are read from the solution notebook beside this file;
each mistake is an edit of one of them, the kind a student makes. The hidden tests probe each
function alone, so a mistake costs its own part, and the results that its run changes.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from grader.kit.cell_examples import Example, SolutionCells

#: The five tests of the code and the three of the results, with their points in the notebook.
POINTS = {"test_descriptors": 3, "test_descriptor_distance": 2, "test_paths": 4, "test_note_path": 1,
          "test_conditional_vae": 3, "test_generation": 2, "test_smoothness": 2, "test_pitch": 2}
#: The solution cells a student writes.
CELLS = ("descriptors", "descriptor_distance", "paths", "note_path", "conditional_vae")

LAB = SolutionCells(Path(__file__).with_name("synth.ipynb"), CELLS, POINTS)
#: grade id -> the solution's source of each cell a student writes, markers dropped
SOLUTION = LAB.solution

#: The same code written another way: LibROSA on a numpy copy with n_fft inferred from the bins,
#: W1 from the two CDFs by hand, paths from complex numbers and torch.lerp, the condition joined
#: by a helper.
VARIANTS = {
    "descriptors": '''def descriptors(magnitudes):
    if isinstance(magnitudes, torch.Tensor):
        magnitudes = magnitudes.detach().cpu().numpy()
    S = np.ascontiguousarray(np.transpose(magnitudes)).astype(np.float64)  # (bins, frames)
    sr = spec.SAMPLE_RATE
    return {
        "centroid": librosa.feature.spectral_centroid(S=S, sr=sr).ravel(),
        "bandwidth": librosa.feature.spectral_bandwidth(S=S, sr=sr).ravel(),
        "flatness": librosa.feature.spectral_flatness(S=S, power=2.0).ravel(),
        "rolloff": librosa.feature.spectral_rolloff(S=S, sr=sr, roll_percent=0.85).ravel(),
    }
''',
    "descriptor_distance": '''def descriptor_distance(a, b):
    distances = {}
    for name in DESCRIPTORS:
        u, v = np.sort(np.asarray(a[name], dtype=float)), np.sort(np.asarray(b[name], dtype=float))
        edges = np.sort(np.concatenate([u, v]))
        cdf_u = np.searchsorted(u, edges[:-1], side="right") / len(u)
        cdf_v = np.searchsorted(v, edges[:-1], side="right") / len(v)
        distances[name] = float(np.sum(np.abs(cdf_u - cdf_v) * np.diff(edges)))  # the area between the CDFs
    return distances
''',
    "paths": '''def _points(complex_values):
    return torch.view_as_real(complex_values.to(torch.complex64))


def line(start, end, steps):
    start, end = torch.as_tensor(start, dtype=torch.float32), torch.as_tensor(end, dtype=torch.float32)
    return torch.lerp(start, end, torch.linspace(0, 1, steps)[:, None])


def circle(centre, radius, steps):
    turn = torch.exp(2j * math.pi * torch.arange(steps, dtype=torch.float64) / steps)
    return torch.as_tensor(centre, dtype=torch.float32) + _points(radius * turn)


def spiral(centre, start_radius, end_radius, turns, steps):
    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    radius = torch.lerp(torch.tensor(float(start_radius), dtype=torch.float64),
                        torch.tensor(float(end_radius), dtype=torch.float64), t)
    return torch.as_tensor(centre, dtype=torch.float32) + _points(radius * torch.exp(2j * math.pi * turns * t))


def random_walk(start, step_size, steps, generator):
    walk = torch.zeros(steps, 2)
    walk[1:] = torch.randn(steps - 1, 2, generator=generator) * step_size
    return walk.cumsum(dim=0) + torch.as_tensor(start, dtype=torch.float32)
''',
    "note_path": '''def note_path(model, spectra):
    codes = model.inference(spectra)  # (z, mean, logvar): the mean is the path
    return codes[1].detach().clone()
''',
    "conditional_vae": '''def _joined(a, c):
    return torch.cat((a, c.to(a.dtype)), dim=a.dim() - 1)


class ConditionalVAE(Conditioned, SpeechVAE):
    def build(self):
        def stack(n_in, sizes):
            layers, width = [], n_in
            for size in sizes:
                layers.extend([nn.Linear(width, size), nn.Tanh()])
                width = size
            return nn.Sequential(*layers)

        self.mlp_x_z = stack(self.x_dim + self.condition_dim, self.encoder_hidden)
        self.inf_mean = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        self.inf_logvar = nn.Linear(self.encoder_hidden[-1], self.z_dim)
        self.mlp_z_x = stack(self.z_dim + self.condition_dim, self.decoder_hidden)
        self.gen_logvar = nn.Linear(self.decoder_hidden[-1], self.x_dim)

    def inference(self, x, c):
        hidden = self.mlp_x_z(_joined(x, c))
        mean, logvar = self.inf_mean(hidden), self.inf_logvar(hidden)
        return self.reparametrization(mean, logvar), mean, logvar

    def generation_x(self, z, c):
        return self.gen_logvar(self.mlp_z_x(_joined(z, c)))
''',
}

_full = LAB.full  # the expected scores: full points except where given
_edit = LAB.edit  # {cell: the solution's source with one edit}

EXAMPLES = {
    "correct": Example("the reference solution", {}, _full()),
    "variants": Example("correct, written another way (numpy first, W1 from the CDFs by hand, paths from complex "
                        "numbers and lerp, the condition joined by a helper)", VARIANTS, _full()),
    "power": Example("descriptors of the power spectrum |X|^2 where the function says magnitudes",
                     _edit("descriptors", "S = np.asarray(magnitudes, dtype=np.float64).T",
                           "S = np.asarray(magnitudes, dtype=np.float64).T ** 2"),
                     _full(test_descriptors=0, test_generation=0)),
    "diameter": Example("circle: the radius taken as a diameter (half the radius)",
                        _edit("paths", "return torch.as_tensor(centre, dtype=torch.float32) + radius * torch.stack",
                              "return torch.as_tensor(centre, dtype=torch.float32) + radius / 2 * torch.stack"),
                        _full(test_paths=3, test_smoothness=1)),
    "encoderonly": Example("the conditional VAE gives the condition to the encoder only",
                            {"conditional_vae": _edit("conditional_vae", "dense_tanh((self.z_dim + self.condition_dim, ",
                                                      "dense_tanh((self.z_dim, ")["conditional_vae"].replace(
                                "return self.gen_logvar(self.mlp_z_x(torch.cat([z, c], dim=-1)))",
                                "return self.gen_logvar(self.mlp_z_x(z))")},
                            _full(test_conditional_vae=1, test_pitch=1)),
    "sampled": Example("note_path returns posterior samples instead of the encoder's means",
                       _edit("note_path", "_, means, _ = model.inference(spectra)", "means, _, _ = model.inference(spectra)"),
                       _full(test_note_path=0)),
    "blank": Example("the release notebook as handed out, nothing filled in", {},
                     {test: 0 for test in POINTS}, answers=False),
}


def make_submission(release: nbformat.NotebookNode, example: Example) -> nbformat.NotebookNode:
    """The student notebook of the release with the example's cells filled in."""
    return LAB.fill(release, example)

#: What `vaelab demo` grades by default when it grades this lab: a correct submission, descriptors
#: of the power spectrum, and a condition the decoder never sees.
DEMO_EXAMPLES = ("correct", "power", "encoderonly")
