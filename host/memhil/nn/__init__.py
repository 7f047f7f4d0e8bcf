"""memhil.nn: crossbar layers, the pulse-update optimizer and the trainer.

``CrossbarLinear`` is a drop-in ``torch.nn.Linear`` whose weights live on a crossbar backend
(the twin, the Verilator simulation or a board); ``CrossbarSGD`` turns each minibatch's
``(x, delta)`` into stochastic programming pulses; ``Trainer`` runs, checkpoints and resumes.
"""
from memhil.backend import BackendUnavailable, open_backend  # noqa: F401  (memhil.backend's)
from memhil.nn.backend import plan_tiles  # noqa: F401
from memhil.nn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: F401
from memhil.nn.layer import CrossbarLinear, CrossbarSGD  # noqa: F401
from memhil.nn.loss import CrossEntropyLoss  # noqa: F401
from memhil.nn.models import (backends_of, crossbar_mlp, float_mlp,  # noqa: F401
                               preserved_lfsrs)
from memhil.nn.trainer import RunSpec, Trainer, accuracy, build_model  # noqa: F401
