"""The drivers: a side (forward, gradients, read and write its variables) of
a model in a v1 graph and Session, of a port run eagerly on TensorFlow, or on
Keras 3's JAX or PyTorch backend; ``legacy_side`` and ``port_side`` pick one.
They know the models only through ``base``'s Protocols."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init.port._core.numerics import dense_gradient, loss_value, regularization_sum
from compat_init.port._sides.base import GraphModel, Port


def to_numpy(value: Any) -> np.ndarray:
    """A tensor or variable (a layer's output, a weight, a gradient) as numpy
    on any backend: Keras 3's ``convert_to_numpy`` off TensorFlow (it detaches
    a PyTorch tensor that requires grad)."""
    if _runtime.keras_backend() != "tensorflow":
        from keras import ops

        return np.asarray(ops.convert_to_numpy(value))
    return np.asarray(value)


class GraphSide:
    """A model living in a v1 graph and Session (the legacy model; the port on
    TF 1.x or without eager execution)."""

    def __init__(self, tf: Any, graph: Any, session: Any, handles: List[Any], feed: Any,
                 outputs: Any, regularization: Any, updates: Any) -> None:
        self.tf, self.graph, self.session, self.handles = tf, graph, session, handles
        self.feed_for = feed  #: training -> feed dict
        self.outputs_for = outputs  #: training -> output tensors
        self.regularization_for = regularization  #: training -> list of loss tensors
        self.updates_for = updates  #: training -> update ops
        with graph.as_default():
            self.fed = [tf.compat.v1.placeholder(h.dtype.base_dtype, h.shape) for h in handles]
            self.assign = [h.assign(f) for h, f in zip(handles, self.fed)]
        self.built: Dict[Any, Any] = {}

    def write(self, values: Dict[int, np.ndarray]) -> None:
        if values:
            self.session.run([self.assign[i] for i in values],
                             feed_dict={self.fed[i]: v for i, v in values.items()})

    def read(self, indices: Sequence[int]) -> List[np.ndarray]:
        return self.session.run([self.handles[i] for i in indices]) if indices else []

    def forward(self, training: bool) -> List[np.ndarray]:
        return self.session.run(self.outputs_for(training), feed_dict=self.feed_for(training))

    def _training_ops(self, key: Any, trainable: Tuple[int, ...], training: bool) -> Any:
        tf = self.tf
        if key not in self.built:
            loss_name, from_logits, labels_dtype = key[:3]
            with self.graph.as_default():
                labels = tf.compat.v1.placeholder(labels_dtype, name="compat_init_labels")
                outputs = self.outputs_for(training)
                data = loss_value(tf, loss_name, labels, outputs[0], from_logits)
                regs = self.regularization_for(training)
                reg = regularization_sum(tf, regs)
                total = data + reg
                variables = [self.handles[i] for i in trainable]
                grads = [dense_gradient(tf, g, v) for g, v in zip(tf.gradients(total, variables), variables)]
                self.built[key] = (labels, total, reg, grads, outputs, list(self.updates_for(training)))
        return self.built[key]

    def gradients(self, loss: str, from_logits: bool, labels: np.ndarray, trainable: Tuple[int, ...],
                  training: bool) -> Tuple[float, float, List[np.ndarray], List[np.ndarray]]:
        dtype = self.tf.int64 if labels.dtype.kind in "iu" else self.tf.float32
        ph, total, reg, grads, outputs, updates = self._training_ops(
            (loss, from_logits, dtype, trainable, training), trainable, training)
        feed = dict(self.feed_for(training))
        feed[ph] = labels
        value, reg_value, grad_values, output_values = self.session.run([total, reg, grads, outputs], feed_dict=feed)
        if updates:  # batch norm's moving statistics, from the same batch and the same weights
            self.session.run(updates, feed_dict=feed)
        return float(value), float(reg_value), grad_values, output_values

    def regularization(self) -> Optional[float]:
        with self.graph.as_default():
            regs = self.regularization_for(False)
        if not regs:
            return None
        return float(sum(np.sum(r) for r in self.session.run(regs, feed_dict=self.feed_for(False))))

    def close(self) -> None:
        self.session.close()


class EagerSide:
    """The port, eagerly (TF 2)."""

    def __init__(self, tf: Any, port: Port, arrays: List[np.ndarray]) -> None:
        self.tf, self.port, self.arrays = tf, port, arrays

    def write(self, values: Dict[int, np.ndarray]) -> None:
        for i, value in values.items():
            self.port.weights[i].assign(value)

    def read(self, indices: Sequence[int]) -> List[np.ndarray]:
        return [np.asarray(self.port.weights[i].numpy()) for i in indices]

    def forward(self, training: bool) -> List[np.ndarray]:
        return [np.asarray(o) for o in self.port.call(self.arrays, training)]

    def _losses(self) -> List[Any]:
        return list(getattr(self.port.model, "losses", []) or [])

    def gradients(self, loss: str, from_logits: bool, labels: np.ndarray, trainable: Tuple[int, ...],
                  training: bool) -> Tuple[float, float, List[np.ndarray], List[np.ndarray]]:
        tf = self.tf
        variables = [self.port.weights[i] for i in trainable]
        with tf.GradientTape() as tape:
            outputs = self.port.call(self.arrays, training)
            data = loss_value(tf, loss, tf.constant(labels), outputs[0], from_logits)
            regs = self._losses()
            reg = regularization_sum(tf, regs)
            total = data + reg
        grads = [np.asarray(dense_gradient(tf, g, w)) for g, w in zip(tape.gradient(total, variables), variables)]
        return float(total), float(reg), grads, [np.asarray(o) for o in outputs]

    def regularization(self) -> Optional[float]:
        self.port.call(self.arrays, False)  # Keras 2 collects a call's losses during the call
        regs = self._losses()
        if not regs:
            return None
        return float(sum(float(np.sum(np.asarray(r))) for r in regs))

    def close(self) -> None:
        pass


class BackendSide(EagerSide):
    """The port on Keras 3's JAX or PyTorch backend: the same reads, writes
    and formulas, with that backend's gradients (``jax.value_and_grad`` over
    a stateless call, PyTorch's autograd)."""

    def __init__(self, tf: Any, port: Port, arrays: List[np.ndarray]) -> None:
        super().__init__(tf, port, arrays)
        from keras import ops

        self.ops = ops
        self.backend = _runtime.keras_backend()

    def read(self, indices: Sequence[int]) -> List[np.ndarray]:
        return [to_numpy(self.port.weights[i]) for i in indices]

    def forward(self, training: bool) -> List[np.ndarray]:
        return [to_numpy(o) for o in self._outputs(training)]

    def _outputs(self, training: bool) -> List[Any]:
        """The port's call, whose outputs must be the backend's own: TensorFlow
        tensors mean its layers call tf.* (no gradient reaches the weights)."""
        outputs = self.port.call(self.arrays, training)
        if any(self.tf.is_tensor(o) for o in outputs):
            raise UsageError("the port's call returns TensorFlow tensors on Keras' {} backend: its layers call "
                             "tf.*, so it runs on the TensorFlow backend only (KERAS_BACKEND=tensorflow)".format(
                                 self.backend))
        return outputs

    def _total(self, loss: str, from_logits: bool, labels: np.ndarray, training: bool) -> Tuple[Any, Any, List[Any]]:
        outputs = self._outputs(training)
        data = loss_value(self.ops, loss, self.ops.convert_to_tensor(labels), outputs[0], from_logits)
        regs = self._losses()
        reg = sum((self.ops.cast(r, "float32") for r in regs[1:]), self.ops.cast(regs[0], "float32")) if regs \
            else self.ops.convert_to_tensor(0.0)
        return data + reg, reg, outputs

    def gradients(self, loss: str, from_logits: bool, labels: np.ndarray, trainable: Tuple[int, ...],
                  training: bool) -> Tuple[float, float, List[np.ndarray], List[np.ndarray]]:
        variables = [self.port.weights[i] for i in trainable]
        if self.backend == "jax":
            return self._jax_gradients(loss, from_logits, labels, variables, training)
        if self.backend != "torch":
            raise UsageError("the proof's training steps run the port on the TensorFlow, JAX or PyTorch backend; "
                             "this Keras runs on {}: prove with --steps 0 or KERAS_BACKEND=tensorflow".format(
                                 self.backend))
        for variable in variables:
            variable.value.grad = None
        total, reg, outputs = self._total(loss, from_logits, labels, training)
        total.backward()
        grads = [np.zeros(tuple(v.shape), v.dtype) if v.value.grad is None else to_numpy(v.value.grad)
                 for v in variables]
        return float(to_numpy(total)), float(to_numpy(reg)), grads, [to_numpy(o) for o in outputs]

    def _jax_gradients(self, loss: str, from_logits: bool, labels: np.ndarray, variables: List[Any],
                       training: bool) -> Tuple[float, float, List[np.ndarray], List[np.ndarray]]:
        import jax
        import keras

        model_variables = list(self.port.weights)
        others = [v for v in model_variables if all(v is not t for t in variables)]

        def total(values: List[Any]) -> Tuple[Any, Tuple[Any, List[Any], List[Any]]]:
            mapping = list(zip(variables, values)) + [(v, v.value) for v in others]
            with keras.StatelessScope(state_mapping=mapping) as scope:
                value, reg, outputs = self._total(loss, from_logits, labels, training)
                # A training call's own updates (batch-norm moments), applied below as Keras applies them.
                updated = [scope.get_current_value(v) for v in others]
            return value, (reg, outputs, updated)

        (value, (reg, outputs, updated)), grads = jax.value_and_grad(total, has_aux=True)(
            [v.value for v in variables])
        for variable, new in zip(others, updated):
            if new is not None:
                variable.assign(new)
        return (float(value), float(reg), [to_numpy(g) for g in grads], [to_numpy(o) for o in outputs])

    def regularization(self) -> Optional[float]:
        self.port.call(self.arrays, False)
        regs = self._losses()
        if not regs:
            return None
        return float(sum(float(np.sum(to_numpy(r))) for r in regs))


def legacy_side(legacy: GraphModel, arrays: List[np.ndarray]) -> GraphSide:
    return GraphSide(legacy.tf, legacy.graph, legacy.session, legacy.variables,
                      lambda training: legacy.run_feed(arrays, training),
                      lambda training: legacy.outputs, lambda training: legacy.regularization,
                      lambda training: legacy.update_ops if training else [])


def port_side(port: Port, arrays: List[np.ndarray]) -> Any:
    if port.eager and _runtime.keras_backend() != "tensorflow":
        kinds = {isinstance(w, port.tf.Variable) for w in port.weights}
        if kinds == {False}:
            return BackendSide(port.tf, port, arrays)
        if kinds == {True, False}:
            raise UsageError("the port holds TensorFlow variables beside Keras' {} ones: it runs on the TensorFlow "
                             "backend only (KERAS_BACKEND=tensorflow)".format(_runtime.keras_backend()))
        # Only tf.Variables (a tf.Module): a TensorFlow program, whatever Keras' backend.
    if port.eager:
        return EagerSide(port.tf, port, arrays)
    tf = port.tf

    def updates(training: bool) -> List[Any]:
        if not training:
            return []
        model = port.model
        if hasattr(model, "get_updates_for"):  # TF 1.x Keras: the updates of this call, and the unconditional ones
            return list(model.get_updates_for(port.placeholders)) + list(model.get_updates_for(None))
        return list(getattr(model, "updates", []) or [])

    return GraphSide(tf, port.graph, port.session, [port.handle(i) for i in range(len(port.weights))],
                      lambda training: dict(zip(port.placeholders, arrays)), port.symbolic_outputs,
                      lambda training: list(getattr(port.model, "losses", []) or []), updates)
