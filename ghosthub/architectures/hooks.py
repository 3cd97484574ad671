"""What an architecture may provide besides its builder: the weight layouts it maps, and what a file fits.

Generic code (:mod:`ghosthub.weights.plan`) calls these hooks; only an architecture's own module
knows what they do. The base class is the answer for an architecture whose checkpoints are in its
own parameter names, as MindCV's are: one layout, ``native``, nothing to rename or infer.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:  # numpy is not imported by registering an architecture
    from collections.abc import Mapping

    import numpy as np

__all__ = ["NATIVE", "Fit", "WeightLayouts"]

NATIVE = "native"


class Fit(namedtuple("Fit", "family width num_classes in_channels")):
    """The network a weights file fits, read from its names and shapes.

    Attributes
    ----------
    family : str
        The registered architecture to build (for a family that takes a width, the family's name).
    width : float or None
        Channel width multiplier of a family that takes one, else None.
    num_classes : int
        Classifier outputs (0 when the weights have no classifier).
    in_channels : int
        Input channels of the first convolution.
    """

    __slots__ = ()


class WeightLayouts:
    """Weights in other libraries' parameter names: how an architecture (family) recognises and maps them.

    Subclass it and pass an instance as ``register_architecture(..., layouts=...)``; the same instance
    may serve several architectures of one family, and then a weights file without a card or an
    architecture name is recognised by :meth:`detect` and :meth:`infer`. Every method works on
    ``name -> numpy array`` mappings (zero-stride stand-ins when only shapes matter) and must not
    import MindSpore: a file is checked against the network before any tensor is read.

    Attributes
    ----------
    names : tuple of str
        The layouts this family maps (a card's ``weights-layout:`` names one of them).
    native : tuple of str
        The layouts whose names are the network's own, so that a checkpoint ghosthub wrote (with
        its record) is one of them.
    """

    names: tuple[str, ...] = (NATIVE,)
    native: tuple[str, ...] = (NATIVE,)

    def detect(self, names: list[str]) -> str:
        """The layout of a checkpoint from its parameter names (training state already left out).

        Raises
        ------
        ghosthub.errors.WeightsError
            The names are in no layout of this family; the message quotes some of them.
        """
        return NATIVE

    def to_network(self, params: Mapping[str, np.ndarray], layout: str, *, shapes_only: bool = False) -> dict:
        """The parameters under the network's names (renamed, re-parameterised: whatever the layout needs).

        With ``shapes_only`` the values are stand-ins: compute shapes, not numbers.
        """
        return dict(params)

    def infer(self, params: Mapping[str, np.ndarray]) -> Fit | None:
        """The network the mapped parameters fit, from their shapes; None when the shapes cannot say.

        Raises
        ------
        ghosthub.errors.CheckpointMismatchError
            Shapes that no network of the family explains (the message says what was found).
        """
        return None

    def options(self, params: Mapping[str, np.ndarray], layout: str, architecture: str) -> dict:
        """Builder keyword arguments these weights need when built as ``architecture`` (e.g. a head width)."""
        return {}
