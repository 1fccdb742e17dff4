"""Checks of the lab vae_speech (handout sections 2.3 to 2.5).

`method_checks`: the self-checks of the model's five methods (build ... get_loss), one per
method, on properties and hand-computed cases. `result_checks`: the checks of the training,
seeds, fine-tuning and cross-evaluation results, which also record the numbers for the grader.
"""
