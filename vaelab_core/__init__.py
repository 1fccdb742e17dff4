"""vaelab_core: what a student's notebook imports.

The lab's numbers (`spec`), the signal path (`audio`), datasets and batching (`datasets`),
the training engine (`training`), checkpoints and the shipped pre-trained model
(`checkpoints`), plots (`plots`), listening (`listening`) and the public self-checks
(`selfcheck`). It holds no solution code.
"""

__version__ = "0.1.0"
