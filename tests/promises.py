"""The accuracy promises (full trainings of the presets) run in worker processes started as the test
session starts, so that their two minutes of one core run beside the other tests, many of which wait
on a browser or a server, instead of after them. The workers run at a lower priority (nice 10), so the
tests in front keep the cores when they need them. ``tests/test_presets.py`` and
``tests/test_training.py`` read the results."""
import os

PROMISES = {
    "seed, another seed": ("seed", {"seed": 7}),
    "fast": ("fast", {}),
    "wide": ("wide", {}),
    "robust, two epochs": ("robust", {"epochs": 2}),
}
"""What is trained: a preset, with these changes."""


def train(preset, changes):
    """Train a preset to the end in this process; returns (status, test accuracy after each epoch)."""
    os.nice(10)
    import mlp
    from mlp.training import one_blas_thread

    mlp.compiled.use_kernels = True     # the app's path, whatever MLP_KERNELS the tests' processes get

    with one_blas_thread():
        trainer = mlp.Trainer(mlp.PRESETS[preset].config.replace(**changes), mlp.load_mnist()).run()
    return trainer.status, [event.test_accuracy for event in trainer.history]
