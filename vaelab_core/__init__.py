"""vaelab_core: what a student's notebook imports.

The lab's numbers (`spec`), the signal path (`audio`), datasets and batching (`datasets`),
the training engine (`training`), checkpoints and the shipped pre-trained model
(`checkpoints`), plots (`plots`), listening (`listening`), and the public checks: one
subpackage per lab (`labs.vae_speech`, `labs.latent_space`) on the machinery they share
(`checking`). It holds no solution code.
"""

__version__ = "0.1.0"
