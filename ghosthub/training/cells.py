"""The MindSpore pieces of the trainer: loss cell, optimizer, train step, dropout masks, rank averaging."""

from __future__ import annotations

import hashlib

import numpy as np

from ..architectures.build import create_model
from .recipe import Recipe

__all__ = ["build", "rewrap", "dropout_keep", "make_cells", "sync_batchnorm", "weights_sha256"]


def make_cells():
    """The MindSpore cells of the trainer (defined here so importing this module stays light)."""
    import mindspore as ms
    from mindspore import nn, ops

    class NetWithLoss(nn.Cell):
        """Network + cross entropy; dropout before the classifier with a mask the trainer supplies."""

        def __init__(self, net, label_smoothing: float) -> None:
            super().__init__(auto_prefix=False)  # keep the network's parameter names (checkpoint keys)
            self.net = net
            self.loss = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

        def construct(self, images, labels, keep):
            features = self.net.forward_head(self.net.forward_features(images), pre_logits=True)
            logits = self.net.get_classifier()(features * ops.cast(keep, features.dtype))
            return self.loss(ops.cast(logits, ms.float32), labels)  # the loss in float32 under amp too

    class AllReduceMean(nn.Cell):
        """Average a tensor over the data-parallel ranks."""

        def __init__(self, world: int) -> None:
            super().__init__()
            self.all_reduce = ops.AllReduce()
            self.world = float(world)

        def construct(self, x):
            return self.all_reduce(x) / self.world

    return NetWithLoss, AllReduceMean


def _optimizer(net, recipe: Recipe, lr: np.ndarray, steps_per_epoch: int = 0):
    """SGD with momentum; like MindCV, no weight decay on biases and batch-norm gamma/beta.

    A fine-tuning run gives the backbone its own learning rate (``backbone_lr_scale``, 0 during
    ``freeze_epochs``) and leaves it out entirely under ``freeze: backbone``.
    """
    import mindspore as ms
    from mindspore import nn

    from .finetune import backbone_lr, split_params

    params = net.trainable_params()
    parts = [(params, None)]
    if recipe.finetuning and recipe.freeze == "backbone":
        params = split_params(net)[1]
        parts = [(params, None)]
    elif recipe.finetuning and (recipe.freeze_epochs or recipe.backbone_lr_scale != 1.0):
        backbone, head = split_params(net)
        parts = [(backbone, ms.Tensor(backbone_lr(recipe, lr, steps_per_epoch))), (head, None)]
    groups = []
    for members, part_lr in parts:
        extra = {} if part_lr is None else {"lr": part_lr}
        if recipe.filter_bias_and_bn:
            exempt = lambda p: any(key in p.name for key in ("gamma", "beta", "bias"))  # noqa: E731
            split = [
                ([p for p in members if not exempt(p)], recipe.weight_decay),
                ([p for p in members if exempt(p)], 0.0),
            ]
        else:
            split = [(members, recipe.weight_decay)]
        groups += [{"params": ps, "weight_decay": wd, **extra} for ps, wd in split if ps]
    groups.append({"order_params": params})
    learning_rate = ms.Tensor(lr)
    if recipe.opt == "sgd":
        return nn.SGD(groups, learning_rate=learning_rate, momentum=recipe.momentum, nesterov=recipe.use_nesterov)
    return nn.Momentum(groups, learning_rate=learning_rate, momentum=recipe.momentum, use_nesterov=recipe.use_nesterov)


def _train_step(loss_net, optimizer, recipe: Recipe):
    """TrainOneStepCell, with loss scaling when training in reduced precision."""
    from mindspore import nn

    if recipe.amp_level == "O0":
        return nn.TrainOneStepCell(loss_net, optimizer)
    if recipe.loss_scale_type == "dynamic":
        scale = nn.DynamicLossScaleUpdateCell(loss_scale_value=recipe.loss_scale, scale_factor=2, scale_window=2000)
    else:
        scale = nn.FixedLossScaleUpdateCell(loss_scale_value=recipe.loss_scale)
    return nn.TrainOneStepWithLossScaleCell(loss_net, optimizer, scale_sense=scale)


def build(recipe: Recipe, num_classes: int, lr: np.ndarray, *, base=None, steps_per_epoch: int = 0):
    """The network (initialised from the recipe's seed, then from the base weights when fine-tuning), its train step."""
    import mindspore as ms

    ms.set_seed(recipe.seed)
    # Dropout is the trainer's (a mask per step), so the network is built without its own.
    net = create_model(recipe.backbone, recipe.width, num_classes=num_classes, drop_rate=0.0)
    if base is not None:
        from .finetune import load_base

        load_base(net, base)  # a classifier of another size keeps its seeded initialisation
    if recipe.amp_level != "O0":
        ms.amp.auto_mixed_precision(net, recipe.amp_level)
    net_with_loss = make_cells()[0](net, recipe.label_smoothing)
    return net, _train_step(net_with_loss, _optimizer(net, recipe, lr, steps_per_epoch), recipe)


def rewrap(train_step, recipe: Recipe):
    """A new training cell over the same network and optimizer: graph mode compiles it afresh
    (after BatchNorm layers change mode, which a compiled graph would not see)."""
    return _train_step(train_step.network, train_step.optimizer, recipe)


def dropout_keep(recipe: Recipe, shape: tuple, *, epoch: int, step: int, rank: int) -> np.ndarray:
    """Inverted-dropout keep mask of one step, a function of (seed, epoch, step, rank) only."""
    if recipe.drop_rate <= 0:
        return np.ones(shape, np.float32)
    rng = np.random.default_rng([recipe.seed, epoch, step, rank, 1])
    keep = rng.random(shape, dtype=np.float32) >= recipe.drop_rate
    return keep.astype(np.float32) * np.float32(1.0 / (1.0 - recipe.drop_rate))


def weights_sha256(net) -> str:
    h = hashlib.sha256()
    for name, param in sorted(net.parameters_and_names(), key=lambda item: item[0]):
        value = param.asnumpy()
        h.update(f"{name}\0{value.dtype}\0{value.shape}\0".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def sync_batchnorm(net, reduce_mean) -> None:
    """Average BN moving statistics over the ranks, so every rank (and the checkpoint) agrees."""
    import mindspore as ms

    stats = [p for p in net.get_parameters() if p.name.endswith(("moving_mean", "moving_variance"))]
    if not stats:
        return
    flat = np.concatenate([p.asnumpy().reshape(-1) for p in stats])
    averaged = reduce_mean(ms.Tensor(flat)).asnumpy()
    offset = 0
    for p in stats:
        p.set_data(ms.Tensor(averaged[offset : offset + p.size].reshape(p.shape), p.dtype))
        offset += p.size
