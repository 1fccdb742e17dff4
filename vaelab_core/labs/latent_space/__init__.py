"""Checks of the lab latent_space: its eight functions and its results.

`subspace_checks`: part 1's functions (latent_subspace, subspace_alignment, fit_factor_path,
move_factor). `regulariser_checks`: part 2's (beta_elbo, mmd, lerp, slerp). `result_checks`:
the subspaces, moves, beta runs and WAE, recorded for the grader.
"""
