"""The interfaces between the sides and the jobs that use them, declared.

The proof, conversion and recording read a legacy side through
:class:`LegacySource`, whatever its source: a live graph (``LegacyModel``: a
builder, or a ``Saver``'s ``.meta`` graph) or a recording replayed
(``RecordedModel``).  Each side is driven through a :class:`Side`: forward,
gradients, read and write its variables.  The drivers build a side from a
live graph (:class:`GraphModel`) or from a port (:class:`Port`) without
importing either class: these Protocols are what they rely on.
"""
from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from compat_init.port._core.pairs import Var

if sys.version_info >= (3, 8):  # typing.Protocol is 3.8+
    from typing import Protocol
else:  # Python 3.7 (TF 1.15): the interfaces stay documentation there
    Protocol = object


class Side(Protocol):
    """One model as the function check drives it, on one batch."""

    def write(self, values: Dict[int, np.ndarray]) -> None:
        """Sets the variables at these indices (of the model's ``vars``)."""

    def read(self, indices: Sequence[int]) -> List[np.ndarray]:
        """The current values of the variables at these indices."""

    def forward(self, training: bool) -> List[np.ndarray]:
        """The outputs on the batch, in inference or training mode."""

    def gradients(self, loss: str, from_logits: bool, labels: np.ndarray, trainable: Tuple[int, ...],
                  training: bool) -> Tuple[float, float, List[np.ndarray], List[np.ndarray]]:
        """(loss, regularization loss, gradients of ``trainable``, outputs) of one step."""

    def regularization(self) -> Optional[float]:
        """The total regularization loss, or None when the model has none."""

    def close(self) -> None:
        """Releases what the side holds."""


class LegacySource(Protocol):
    """The legacy side as the proof, conversion and recording read it."""

    vars: List[Var]
    input_names: List[str]
    output_names: List[str]
    #: The training switch: a tensor (live) or its name (replayed); None without one.
    training: Any
    switch_name: Optional[str]
    #: Checkpoint keys with NaN or infinite values, once a checkpoint is loaded.
    nonfinite: List[str]

    def feeding_variables(self, losses: bool = True) -> Optional[Set[str]]:
        """The variables the outputs (with ``losses``, the regularization
        losses too) are computed from; None without outputs."""

    def flow(self) -> Any:
        """The dataflow between the variables (``_core.dataflow.Flow``), or
        None (no graph, no outputs)."""

    def theory(self, var: Var) -> Tuple[Any, str]:
        """The distribution ``var`` was drawn from, or (None, why)."""

    def dropout_rates(self) -> Tuple[List[float], int]:
        """The constant dropout rates, and how many take theirs from a feed."""

    def rounding_noise(self, arrays: Sequence[np.ndarray], training: bool = False, draws: int = 0,
                       seed: int = 0) -> List[float]:
        """Each output's largest change under last-bit perturbations."""

    def training_noise(self, arrays: Sequence[np.ndarray], trainable: Sequence[int], state: Sequence[int],
                       steps: int, loss: str, from_logits: bool, labels: np.ndarray, optimizer: str,
                       learning_rate: float, training: bool, seed: int) -> List[Dict[str, Any]]:
        """The training run's rounding noise, per step."""

    def candidates_at(self, arrays: Sequence[np.ndarray]) -> Tuple[Dict[str, np.ndarray], List[str]]:
        """The intermediate tensors the locator compares, and those not read."""

    def activation_after(self, tensor_name: Optional[str]) -> Optional[str]:
        """The activation op that consumes a tensor, if any."""

    def side(self, arrays: Sequence[np.ndarray]) -> Side:
        """The model driven on ``arrays``."""

    def close(self) -> None:
        """Releases the model (its Session)."""


class GraphModel(Protocol):
    """A model living in a v1 graph and Session: what ``legacy_side`` drives."""

    tf: Any
    graph: Any
    session: Any
    variables: List[Any]
    outputs: List[Any]
    regularization: List[Any]
    update_ops: List[Any]

    def run_feed(self, arrays: Sequence[np.ndarray], training: bool = False) -> Dict[Any, Any]:
        """The feed dict of one run on ``arrays``."""


class Port(Protocol):
    """The port as the drivers run it (``PortModel``)."""

    tf: Any
    model: Any
    weights: List[Any]
    eager: bool
    graph: Any
    session: Any
    placeholders: List[Any]

    def call(self, arrays: Sequence[Any], training: bool) -> List[Any]:
        """The port called on ``arrays``, its outputs as a list."""

    def handle(self, index: int) -> Any:
        """The weight at ``index`` as the session fetches and assigns it."""

    def symbolic_outputs(self, training: bool) -> List[Any]:
        """In a graph: the outputs of one call on the placeholders."""
