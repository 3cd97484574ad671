"""Training state in a checkpoint: optimizer slots, step counters, loss scale, EMA copies; told from the network.

A checkpoint saved during training holds more than the network's parameters. Loading drops these
entries by their names (listed here, measured on what MindSpore and MindCV save), whatever the
architecture: mindcv issue 697 is a loader that dropped a resized classifier by its exact name and
then met Adam's copies of it (``adam_m.classifier.weight``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["TRAINING_SCALARS", "TRAINING_SLOT_PREFIXES", "is_training_state", "split_training_state"]

# Entries a MindSpore / MindCV *training* checkpoint holds besides the network's parameters
# (measured with MindSpore 2.10 and MindCV 0.3.0 by saving their train-step cells): scalars of the
# optimizer, learning-rate schedule, loss scaler, MindCV's TrainStep and ModelCheckpoint's
# append_info.
TRAINING_SCALARS = frozenset(
    {
        "learning_rate",
        "global_step",
        "momentum",  # every nn.Optimizer; SGD/Momentum
        "beta1_power",
        "beta2_power",
        "mu_schedule",  # Adam, AdamW, Lion, NAdam
        "scale_sense",  # loss scale (TrainOneStepWithLossScaleCell)
        "current_iterator_step",
        "last_overflow_iterator_step",  # DynamicLossScaleUpdateCell
        "updates",  # MindCV TrainStep's EMA step counter
        "epoch_num",
        "step_num",  # ModelCheckpoint append_info
    }
)
# ... and per-parameter copies named "<slot>.<parameter name>": optimizer slots (Momentum
# moments; SGD accum/stat; Adam moment1/2; MindCV AdamW adam_m/v, Lion lion_m, NAdam nadam_m/v,
# Adan moment1/2/3 + prev_gradient; RMSProp mean_square/moment/mean_grad; Lamb lamb_m/v;
# Adagrad accum) and MindCV's EMA weights ("ema.", used only when MindCV evaluates with --ema).
TRAINING_SLOT_PREFIXES = (
    "moments.",
    "accum.",
    "stat.",
    "moment1.",
    "moment2.",
    "moment3.",
    "prev_gradient.",
    "adam_m.",
    "adam_v.",
    "lion_m.",
    "nadam_m.",
    "nadam_v.",
    "lamb_m.",
    "lamb_v.",
    "mean_square.",
    "moment.",
    "mean_grad.",
    "ema.",
)


def is_training_state(name: str) -> bool:
    """Whether a checkpoint entry is training state rather than a network parameter.

    Examples
    --------
    >>> is_training_state("adam_m.classifier.weight"), is_training_state("classifier.weight")
    (True, False)
    """
    return name in TRAINING_SCALARS or name.startswith(TRAINING_SLOT_PREFIXES)


def split_training_state(params: Mapping[str, np.ndarray]) -> tuple[dict, list[str]]:
    """Separate network parameters from optimizer, loss-scale, EMA and step entries.

    Parameters
    ----------
    params : mapping of str to array

    Returns
    -------
    network : dict
        The remaining entries.
    dropped : list of str
        Names recognised as training state.
    """
    network, dropped = {}, []
    for name, value in params.items():
        if is_training_state(name):
            dropped.append(name)
        else:
            network[name] = value
    return network, dropped
