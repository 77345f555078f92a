"""The legacy model: built once in its own v1 Graph, with its Session.

What the proof reads from it: its variables (trainable, and the non-trainable
model state such as batch-norm moving statistics) with their initial values
and the distribution each was drawn from (read from the graph), its outputs,
its placeholders (inputs, extra feeds, the training switch), its
regularization losses, its dropout rates and its update ops.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from compat_init import _fans, _runtime
from compat_init._errors import UsageError
from compat_init._runtime import moved_module_hint
from compat_init.port._core.numerics import NOISE_DRAWS, NumpyOptimizer, TRAINING_NOISE_DRAWS, change, last_bit
from compat_init.port._core.pairs import Var
from compat_init.port._core.text import cut, describe_value, first_line
from compat_init.port._files.reading import values_for
from compat_init.port._sides.drivers import legacy_side
from compat_init.port._sides.flow import graph_flow
from compat_init.port._sides.graph import (
    ACTIVATIONS,
    CONTROL_FLOW,
    PASS_THROUGH,
    RANDOM_OPS,
    VARIABLE_OPS,
    dropout_rates,
    flatten_outputs,
    optimizer_state,
    reaching_outside,
    static_shape_text,
    upstream,
)
from compat_init.port._sides.recorded import Recording


class LegacyModel:
    """``builder()`` run once in a fresh v1 graph (seeded), initialized in a
    Session."""

    def __init__(self, builder: Callable[[], Any], seed: int, *, need_outputs: bool,
                 feeds: Optional[Dict[str, Any]] = None, placeholders: Optional[Sequence[str]] = None,
                 read_values: bool = True) -> None:
        """``read_values=False``: the variables are neither initialized nor
        read (a conversion's pairing needs their names, shapes and graph)."""
        tf = _runtime.tf()
        self.tf = tf
        #: Checkpoint keys with NaN or infinite values, once a checkpoint is loaded.
        self.nonfinite: List[str] = []
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.set_random_seed(seed)
            with _runtime.differentiable_control_flow():
                try:
                    built = builder()
                except ModuleNotFoundError as error:
                    hint = moved_module_hint(error)
                    if not hint:
                        raise
                    raise UsageError("the legacy builder needs the module {}, which this TensorFlow lacks ({})".format(
                        error.name, hint)) from None
            self.output_names, self.outputs = flatten_outputs(tf, built)
            if need_outputs and not self.outputs:
                raise UsageError(
                    "the legacy builder must return its output tensor(s) (a tensor, a list or a dict of them) to "
                    "compare functions (inputs given); received {}".format(describe_value(built)))
            for name, tensor in zip(self.output_names, self.outputs):
                if tensor.dtype == tf.string or not (tensor.dtype.is_floating or tensor.dtype.is_integer
                                                     or tensor.dtype.is_bool):
                    raise UsageError("the legacy output {} must be numeric to compare; received dtype {}".format(
                        name, tensor.dtype.name))
            global_step = set(id(v) for v in tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.GLOBAL_STEP))
            trainable = list(tf.compat.v1.trainable_variables())
            trainable_ids = set(id(v) for v in trainable)
            # A training graph (a Saver's .meta written while training) holds
            # its optimizer's slots and powers of beta too: read by the
            # optimizer's updates, they are not the model's state.
            optimizer = optimizer_state(self.graph)
            state = [v for v in tf.compat.v1.global_variables()
                     if id(v) not in trainable_ids and id(v) not in global_step
                     and v.op.name.split("/")[-1] != "global_step" and v.op.name not in optimizer]
            self.variables = trainable + state
            self.regularization = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
            self.update_ops = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
            self._classify_placeholders(feeds or {}, placeholders)
            if optimizer:
                self.notes.append("the legacy graph holds an optimizer's state (its updates read it; the model does "
                                  "not), neither compared nor read from a checkpoint: {} variable(s): {}".format(
                                      len(optimizer), cut(sorted(optimizer), 6)))
            self.session = tf.compat.v1.Session(graph=self.graph)
            try:
                values: List[Any] = [None] * len(self.variables)
                if read_values:
                    self.session.run(tf.compat.v1.global_variables_initializer())
                    values = self.session.run(self.variables) if self.variables else []
            except Exception:
                self.session.close()
                raise
        self.vars = [
            Var(v.op.name, tuple(v.shape.as_list()), v.dtype.base_dtype.name, i < len(trainable), i,
                None if x is None else np.asarray(x), v)
            for i, (v, x) in enumerate(zip(self.variables, values))]

    # The legacy side's interface (shared with a recording's RecordedModel) ----------------

    @property
    def input_names(self) -> List[str]:
        """The input placeholders' names, in the order the arrays fill them."""
        return [t.op.name for t in self.inputs]

    @property
    def switch_name(self) -> Optional[str]:
        """The training switch's name (a boolean placeholder nobody feeds), or None."""
        return self.training.op.name if self.training is not None else None

    def side(self, arrays: Sequence[np.ndarray]) -> Any:
        """The model as the function check drives it: forward, gradients,
        read and write its variables, on ``arrays``."""
        return legacy_side(self, list(arrays))

    def load_checkpoint(self, path: str) -> str:
        """The variables set to a checkpoint's tensors (``values_for``), in
        their ``value`` and in the graph; ``nonfinite`` names the keys holding
        NaN or infinite values.  Returns the checkpoint's prefix."""
        prefix, values, self.nonfinite = values_for(path, self.vars)
        for var in self.vars:
            var.value = values[var.index]
        self.side([]).write(values)
        return prefix

    def rounding_noise(self, arrays: Sequence[np.ndarray], training: bool = False, draws: int = NOISE_DRAWS,
                       seed: int = 0) -> List[float]:
        """How far float32 rounding moves this model's outputs on ``arrays``:
        the largest change of each output (``training``: in training mode)
        when every weight and float input is moved by one unit in its last
        place, in ``draws`` random directions; the weights are put back."""
        side = self.side(arrays)
        base = side.forward(training)
        indices = [v.index for v in self.vars]
        start = side.read(indices)
        rng = np.random.RandomState(seed + 7)
        worst = [0.0] * len(base)
        try:
            for _ in range(draws):
                side.write({i: last_bit(w, rng) for i, w in zip(indices, start) if np.asarray(w).dtype.kind == "f"})
                moved = self.side([last_bit(x, rng) for x in arrays]).forward(training)
                worst = [max(w, change(a, b)) for w, a, b in zip(worst, moved, base)]
        finally:
            side.write(dict(zip(indices, start)))
        return worst

    def training_noise(self, arrays: Sequence[np.ndarray], trainable: Sequence[int], state: Sequence[int],
                       steps: int, loss: str, from_logits: bool, labels: np.ndarray, optimizer: str,
                       learning_rate: float, training: bool, seed: int) -> List[Dict[str, Any]]:
        """The training run's rounding noise, per step (``_training_noise``)."""

        return _training_noise(self, arrays, trainable, state, steps, loss, from_logits, labels, optimizer,
                              learning_rate, training, seed)

    def candidates_at(self, arrays: Sequence[np.ndarray]) -> Tuple[Dict[str, np.ndarray], List[str]]:
        """``candidates`` on ``arrays`` at inference."""
        return self.candidates(self.run_feed(arrays, False), int(arrays[0].shape[0]))

    def feeding_variables(self, losses: bool = True) -> Optional[set]:
        """The names of the variables the outputs (with ``losses``, the
        regularization losses too) are computed from, read backwards through
        the graph; None without outputs."""
        if not self.outputs:
            return None
        return upstream([t.op for t in list(self.outputs) + list(self.regularization if losses else [])],
                        VARIABLE_OPS)

    def flow(self) -> Any:
        """The graph's dataflow to its outputs (``graph_flow``); None without outputs."""
        return graph_flow(self.graph, {v.op.name: v.op.name for v in self.variables}, self.outputs) if self.outputs \
            else None

    def batch_shapes(self, batch: int) -> List[Tuple[int, ...]]:
        """The input placeholders' static shapes with ``batch`` rows where the
        first dimension is unknown; a UsageError naming a placeholder of
        unknown rank or another unknown dimension (no batch can be drawn)."""
        shapes = []
        for tensor in self.inputs:
            dims = tensor.shape.as_list() if tensor.shape.ndims is not None else None
            unknown = [] if dims is None else [i for i, d in enumerate(dims) if d is None and i > 0]
            if dims is None or unknown:
                raise UsageError("no batch can be drawn for the legacy placeholder {} (shape {}): {} unknown; pass "
                                 "the inputs (inputs=, --inputs)".format(
                                     tensor.op.name, static_shape_text(tensor),
                                     "its rank is" if dims is None else "its dimension(s) {} are".format(
                                         ", ".join(map(str, unknown)))))
            shapes.append(tuple(batch if d is None else int(d) for d in dims))
        if not shapes:
            raise UsageError("no batch can be drawn: the legacy graph has no input placeholder its outputs read")
        return shapes

    def id_range(self, placeholder: Any) -> Tuple[int, str]:
        """How many ids an integer placeholder may hold: the rows of the
        smallest embedding table it indexes (a gather, or a one-hot's depth,
        through reshapes and casts), else 2 (a mask)."""
        passing = {"Identity", "Reshape", "Cast", "ExpandDims", "Squeeze", "StridedSlice"}
        gathers = {"Gather", "GatherV2", "ResourceGather"}
        rows = []
        stack, seen = [placeholder], set()
        while stack:
            tensor = stack.pop()
            for op in tensor.consumers():
                if op.name in seen:
                    continue
                seen.add(op.name)
                if op.type in gathers and len(op.inputs) > 1 and op.inputs[1] is tensor:
                    dim = op.inputs[0].shape[0] if op.inputs[0].shape.ndims else None
                    if dim is None and op.type == "ResourceGather":
                        dim = op.inputs[0].op.get_attr("shape").dim[0].size
                    if dim:
                        rows.append(int(dim))
                elif op.type == "OneHot" and op.inputs[0] is tensor:
                    depth = self.tf.get_static_value(op.inputs[1])
                    if depth is not None:
                        rows.append(int(depth))
                elif op.type in passing:
                    stack.extend(op.outputs)
        if rows:
            return min(rows), "the rows of the embedding table it indexes"
        return 2, "no embedding table reads it: a mask"

    # Placeholders ------------------------------------------------------------

    def _classify_placeholders(self, feeds: Dict[str, Any], names: Optional[Sequence[str]]) -> None:
        """Inputs (placeholders the batch fills), extra feeds (--feed), the
        training switch (a boolean placeholder nobody feeds)."""
        tf = self.tf
        ops = self.graph.get_operations()
        placeholders = {op.name: op.outputs[0] for op in ops if op.type == "Placeholder"}
        with_default = {op.name: op.outputs[0] for op in ops if op.type == "PlaceholderWithDefault"}
        self.feed: Dict[Any, Any] = {}
        #: What the proof notes about the placeholders (those it leaves alone).
        self.notes: List[str] = []
        read = self._placeholders_read()
        for name, value in feeds.items():
            key = name.split(":")[0]
            tensor = placeholders.get(key, with_default.get(key))
            if tensor is None:
                raise UsageError("feeds must name placeholders of the legacy graph ({}); received {}".format(
                    ", ".join(sorted(set(placeholders) | set(with_default))) or "none", name))
            dtype = tensor.dtype.base_dtype
            try:
                array = np.asarray(value, dtype=dtype.as_numpy_dtype)
            except (TypeError, ValueError):
                raise UsageError("feeds[{}] must be a {} value; received {!r}".format(
                    name, dtype.name, value)) from None
            if not tensor.shape.is_compatible_with(array.shape):
                raise UsageError("feeds[{}] must have shape {}; received shape {}".format(
                    name, tensor.shape, array.shape))
            self.feed[tensor] = array
        unread = sorted(n for n, t in placeholders.items() if read is not None and n not in read and t not in self.feed)
        if unread:
            # Labels only a loss reads, a learning rate: the compared outputs never see them.
            self.notes.append("placeholder(s) the compared outputs do not read, neither demanded nor fed: {}".format(
                ", ".join("{} ({} {})".format(n, placeholders[n].dtype.base_dtype.name,
                                          static_shape_text(placeholders[n]))
                          for n in unread)))
        free = [t for n, t in placeholders.items() if t not in self.feed and n not in unread]
        switches = [t for t in free if t.dtype.base_dtype == tf.bool]
        switches += [t for n, t in with_default.items() if t.dtype.base_dtype == tf.bool and t not in self.feed
                     and (read is None or n in read)]
        #: The training switch: the one boolean placeholder nobody feeds.
        self.training = switches[0] if len(switches) == 1 else None
        if len(switches) > 1 and any(t.op.type == "Placeholder" for t in switches):
            raise UsageError("the legacy graph has {} boolean placeholders ({}); feed them with feeds= "
                             "(--feed NAME=true|false)".format(
                                 len(switches), ", ".join(t.op.name for t in switches)))
        free = [t for t in free if t.dtype.base_dtype != tf.bool]
        if names:
            by_name = {t.op.name: t for t in free}
            missing = [n for n in names if n.split(":")[0] not in by_name]
            if missing:
                raise UsageError("placeholders must name the legacy graph's placeholders ({}); received {}".format(
                    ", ".join(sorted(by_name)) or "none", ", ".join(missing)))
            self.inputs = [by_name[n.split(":")[0]] for n in names]
        else:
            self.inputs = [t for t in free if t.shape.ndims != 0]
        unfed = [t for t in free if t not in self.inputs]
        if unfed:
            raise UsageError(
                "the legacy graph has placeholders that are neither inputs nor fed: {}; give each a value with "
                "feeds={{name: value}} (--feed NAME=VALUE)".format(", ".join(
                    "{} ({} {})".format(t.op.name, t.dtype.base_dtype.name, t.shape) for t in unfed)))

    def _placeholders_read(self) -> Optional[set]:
        """The names of the placeholders the outputs, the regularization
        losses and the update ops are computed from (read backwards through
        the graph, a v2 cond's captured inputs included); None without
        outputs (then every placeholder counts)."""
        if not self.outputs:
            return None
        roots = [t.op for t in list(self.outputs) + list(self.regularization)]
        roots += [u if hasattr(u, "type") else u.op for u in self.update_ops]
        return upstream(roots, {"Placeholder", "PlaceholderWithDefault"})

    def run_feed(self, arrays: Sequence[np.ndarray], training: bool = False) -> Dict[Any, Any]:
        feed = dict(self.feed)
        feed.update(zip(self.inputs, arrays))
        if self.training is not None:
            feed[self.training] = training
        return feed

    # What the graph says -------------------------------------------------------

    def theory(self, var: Var) -> Tuple[Optional[_fans.Theory], str]:
        """The distribution a variable's initial value was drawn from, read
        from its graph: a standard random op through an affine map (fitted
        exactly on the drawn values), or a constant.  (None, why) otherwise."""
        with self.graph.as_default():
            return self._theory(var)

    def _theory(self, var: Var) -> Tuple[Optional[_fans.Theory], str]:
        variable = var.handle
        initial = getattr(variable, "initial_value", None)
        if initial is None:
            return None, "its initial value is not in the graph"
        raw = []
        stack, seen = [initial.op], set()  # type: Tuple[List[Any], set]
        while stack:
            op = stack.pop()
            if op.name in seen or len(seen) > 64:
                continue
            seen.add(op.name)
            if op.type in RANDOM_OPS:
                raw.append(op)
            elif op.type in PASS_THROUGH:
                stack.extend(t.op for t in op.inputs)
        if not raw:
            if np.all(var.value == var.value.flat[0]) if var.value is not None and var.value.size else True:
                fans = _fans.compute_fans(var.shape)
                return _fans.Theory("not random", fans[0], fans[1], 0.0, 0.0), ""
            return None, "its initializer is not a plain random draw (orthogonal, a custom function, ...)"
        if len(raw) != 1:
            return None, "its initial value combines {} random draws".format(len(raw))
        op = raw[0]
        try:
            draw, value = self.session.run([op.outputs[0], initial])
        except Exception as error:  # noqa: BLE001 - a graph the proof cannot evaluate this way
            return None, "its initializer could not be evaluated ({})".format(first_line(error))
        draw = np.asarray(draw, np.float64).ravel()
        value = np.asarray(value, np.float64).ravel()
        if draw.size != value.size or draw.size < 2 or np.ptp(draw) == 0:
            return None, "its initial value is not an elementwise map of one draw"
        a, b = np.polyfit(draw, value, 1)
        if np.max(np.abs(a * draw + b - value)) > 1e-5 * max(float(np.max(np.abs(value))), 1e-30) or a <= 0:
            return None, "its initial value is not an affine map of one {} draw".format(op.type)
        kind = RANDOM_OPS[op.type]
        if kind == "uniform":
            spec = _fans.Spec("uniform", low=float(b), high=float(a + b))
        else:
            spec = _fans.Spec(kind, loc=float(b), scale=float(a))
        return _fans.theory_of_spec(spec, var.shape if var.shape else (1,)), ""

    def dropout_rates(self) -> Tuple[List[float], int]:
        """The rate of every dropout in the graph (and in its functions: a
        v2 cond's branches): ``random >= rate`` masks with a constant rate;
        and how many dropouts take their rate from a feed (``keep_prob``),
        which are not compared."""
        with self.graph.as_default():
            return self._dropout_rates()

    def _dropout_rates(self) -> Tuple[List[float], int]:
        return dropout_rates(self.tf, self.graph)

    def _downstream(self) -> set:
        """The names of the ops that depend on an input placeholder."""
        seen: set = set()
        stack = [t.op for t in self.inputs]
        while stack:
            op = stack.pop()
            if op.name in seen:
                continue
            seen.add(op.name)
            for t in op.outputs:
                stack.extend(t.consumers())
        return seen

    def candidates(self, feed: Dict[Any, Any], batch: int) -> Tuple[Dict[str, np.ndarray], List[str]]:
        """Every fetchable float tensor that depends on the inputs and has the
        batch as its first dimension, evaluated (control-flow ops and tensors
        inside a cond or a while loop are not candidates); and the reasons of
        tensors that could not be read."""
        tensors = {}
        downstream = self._downstream() - reaching_outside(self.graph)  # never run a file's or a print's op
        for op in self.graph.get_operations():
            if op.name not in downstream:
                continue
            if op.type in CONTROL_FLOW or getattr(op, "_control_flow_context", None) is not None:
                continue
            if not self.graph.is_fetchable(op) or "gradients" in op.name or "compat_init" in op.name:
                continue
            if op.type == "Placeholder" and op.outputs[0] not in feed:
                continue
            for t in op.outputs:
                dims = t.shape.as_list() if t.shape.ndims is not None else []
                if t.dtype.is_floating and len(dims) >= 1 and dims[0] in (None, batch):
                    tensors[t.name] = t
        try:
            return (self.session.run(tensors, feed_dict=feed) if tensors else {}), []
        except Exception:  # noqa: BLE001 - one unfetchable tensor: read them one by one
            values, failed = {}, []
            for name, tensor in tensors.items():
                try:
                    values[name] = self.session.run(tensor, feed_dict=feed)
                except Exception as error:  # noqa: BLE001
                    failed.append("{}: {}".format(name, first_line(error)))
            return values, failed

    def activation_after(self, tensor_name: Optional[str]) -> Optional[str]:
        """The activation op type (Relu, Sigmoid, ...) that consumes a tensor, if any."""
        if not tensor_name:
            return None
        tensor = self.graph.get_tensor_by_name(tensor_name)
        for op in tensor.consumers():
            if op.type in ACTIVATIONS:
                return op.type
        return None

    def close(self) -> None:
        self.session.close()


def _training_noise(legacy: Any, arrays: Sequence[np.ndarray], trainable: Sequence[int], state: Sequence[int],
                   steps: int, loss: str, from_logits: bool, labels: np.ndarray, optimizer: str,
                   learning_rate: float, training: bool, seed: int,
                   draws: int = TRAINING_NOISE_DRAWS) -> List[Dict[str, Any]]:
    """How far float32 rounding moves the legacy training run: the run from
    its start, and again ``draws`` times with every weight and float input
    moved by one unit in its last place; per step, the largest change of the
    loss, the regularization loss, each output (``training`` mode) and each
    variable (``trainable`` and ``state`` indices).  The variables are put
    back to their start."""

    everything = [v.index for v in legacy.vars]
    base_side = legacy.side(arrays)
    start = base_side.read(everything)

    def run(side: Any) -> List[Tuple[Any, ...]]:
        update = NumpyOptimizer(optimizer, learning_rate, [legacy.vars[i].shape for i in trainable])
        taken = []
        for _ in range(steps):
            value, reg, grads, outputs = side.gradients(loss, from_logits, labels, tuple(trainable), training)
            side.write(dict(zip(trainable, update(side.read(trainable), grads))))
            taken.append((value, reg, outputs, side.read(trainable), side.read(state)))
        return taken

    rng = np.random.RandomState(seed + 11)
    try:
        base = run(base_side)
        noise: List[Dict[str, Any]] = [
            {"loss": 0.0, "regularization": 0.0, "outputs": [0.0] * len(b[2]),
             "weights": {str(i): 0.0 for i in trainable}, "state": {str(i): 0.0 for i in state}} for b in base]
        for _ in range(draws):
            side = legacy.side([last_bit(x, rng) for x in arrays])
            side.write({i: last_bit(w, rng) for i, w in zip(everything, start)})
            for entry, b, m in zip(noise, base, run(side)):
                entry["loss"] = max(entry["loss"], change(m[0], b[0]))
                entry["regularization"] = max(entry["regularization"], change(m[1], b[1]))
                entry["outputs"] = [max(x, change(o, p)) for x, o, p in zip(entry["outputs"], m[2], b[2])]
                for key, indices, position in (("weights", trainable, 3), ("state", state, 4)):
                    moved_values: List[Any] = m[position]
                    base_values: List[Any] = b[position]
                    for i, a, c in zip(indices, moved_values, base_values):
                        entry[key][str(i)] = max(entry[key][str(i)], change(a, c))
    finally:
        base_side.write(dict(zip(everything, start)))
    return noise


def open_legacy(source: Any, seed: int, *, need_outputs: bool, **options: Any) -> Any:
    """The legacy side from any of its sources: a recording (replayed), or a
    builder (a live graph; ``port.meta_graph``'s too)."""
    if isinstance(source, Recording):
        return source.model()

    return LegacyModel(source, seed, need_outputs=need_outputs, **options)


def refuse_recording(source: Any, what: str) -> None:
    """A UsageError where ``what`` needs the legacy graph itself."""
    if isinstance(source, Recording):
        raise UsageError("{} runs the legacy graph itself (a recording holds its results, not the graph): pass the "
                         "legacy builder (module:function) or its .meta graph; received the recording {}".format(
                             what, source.path))
