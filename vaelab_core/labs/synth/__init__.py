"""Checks of the lab synth (a latent synthesizer on instrument notes): its functions and its results.

`synth_checks`: descriptors, descriptor_distance, the four synthesis paths, note_path and the
conditional VAE. `result_checks`: the models of part 1 (checked, not graded), the descriptor distances of part 2, the
paths' smoothness of part 3 and the pitch control of part 4, recorded for the grader.
"""
