# rtx.train — uptraining relaxed recursive models by distillation, in PyTorch (the
# `train` extra of the package). `python -m rtx.train --help` runs the trainer;
# rtx.train.model.RecursiveModel is the model as a torch module.
from .model import TRAINABLE_PARTS, RecursiveModel, load
from .plan import RecursionPlan

__all__ = ["RecursiveModel", "RecursionPlan", "TRAINABLE_PARTS", "load"]
