"""The public checks of each lab, one subpackage per lab, named after its assignment.

`vae_speech` (the five model methods, then training, seeds, fine-tuning and the cross table),
`latent_space` (eight functions on the latent space, then its results) and `flows` (the planar
flow, its constraint, the chain, the free energy and the flow VAE's inference and loss, then the
fitted 2-D densities and the flow VAE's runs). Each subpackage holds the self-checks its notebook
calls after a student's code and the result checks that record the notebook's numbers for the
grader. What the checks of all labs share (the error, calling student code, the diagnosis of a
wrong loss term) is in `vaelab_core.checking`. No solution code here.
"""
