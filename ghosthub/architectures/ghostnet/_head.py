"""The pooled classifier head the GhostNet family shares, and timm's uniform model interface around it."""

from __future__ import annotations

from mindspore import Tensor, nn, ops

__all__ = ["ClassifierNet"]


class ClassifierNet(nn.Cell):
    """Base of the GhostNet-family networks: head, ``forward_head``, ``get_classifier``, ``reset_classifier``.

    A subclass sets ``num_features``, builds its stem and blocks, defines ``forward_features``,
    then calls :meth:`_build_head`; the attribute names (``conv_head``, ``classifier``) are the
    checkpoints' parameter names.
    """

    def _build_head(self, conv_head: nn.Cell, act: nn.Cell, drop_rate: float, num_classes: int) -> None:
        """Global average pool, ``conv_head`` (1x1 with bias, no BN), ``act``, flatten, dropout, linear classifier."""
        self.conv_head = conv_head
        self.act2 = act
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(p=drop_rate) if drop_rate > 0 else nn.Identity()
        self.classifier = self._make_classifier(num_classes)

    def _make_classifier(self, num_classes: int) -> nn.Cell:
        if num_classes <= 0:
            return nn.Identity()
        return nn.Dense(self.num_features, num_classes, weight_init="he_uniform", bias_init="zeros")

    def get_classifier(self) -> nn.Cell:
        """The final linear layer (an identity when ``num_classes`` is 0)."""
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a freshly initialised one with ``num_classes`` outputs."""
        self.num_classes = num_classes
        self.classifier = self._make_classifier(num_classes)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Feature map -> logits (or the pooled ``num_features`` vector when ``pre_logits``)."""
        x = ops.mean(x, (2, 3), True)
        x = self.flatten(self.act2(self.conv_head(x)))
        x = self.dropout(x)
        return x if pre_logits else self.classifier(x)

    def construct(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))
