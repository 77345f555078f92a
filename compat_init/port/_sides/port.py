"""The port: a Keras model (functional, Sequential, subclassed, a custom
``Layer``), a ``tf.Module`` or a Keras model holding raw ``tf.Variable``s,
built once (called on the inputs when it has no weights yet), eagerly on TF 2
and in a graph on TF 1.x or without eager execution."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init.parity._model import layers_of, weight_name, weight_theories
from compat_init.port._core.pairs import Var
from compat_init.port._core.text import describe_value, first_line
from compat_init.port._sides.drivers import to_numpy
from compat_init.port._sides.flow import traced_flow
from compat_init.port._sides.graph import dropout_rates
from compat_init.port._sides.port_weights import (
    in_creation_order,
    kernel_axes_of_model,
    numbered_variables,
    output_list,
    raw_variables,
    zeros_initialized,
)


def _recorder(recorded: List[Tuple[Any, Any]], layer: Any, call: Any) -> Callable[..., Any]:
    """``layer.call`` that also appends (layer, output) to ``recorded``."""

    def hooked(*args: Any, **kwargs: Any) -> Any:
        out = call(*args, **kwargs)
        recorded.append((layer, out))
        return out

    return hooked


class PortModel:
    """``builder()`` run once: the port, its weights (trainable first, then
    non-trainable state) and its initial values."""

    def __init__(self, builder: Callable[[], Any], seed: int, arrays: Optional[Sequence[np.ndarray]],
                 read_values: bool = True, input_names: Optional[Sequence[str]] = None,
                 named: bool = False, training_argument: Optional[str] = None,
                 zeros: Optional[bool] = None) -> None:
        """``read_values=False``: the weights' initial values are not read
        (a conversion overwrites them; a large model need not hold them twice).
        ``input_names``: the port's input for each array; the port is called
        with a dict of them where its inputs carry those names (a KerasHub
        backbone), else positionally.  ``named``: the names were given as the
        port's (an input map): a port that lacks one is an error.
        ``training_argument``: the argument of the port's call that switches
        training (default ``training``; ``is_training`` in some ports).
        ``zeros``: Keras weights start as zeros, not their initializers'
        draws (default: when ``read_values`` is False)."""
        tf = _runtime.tf()
        self.tf = tf
        self.training_argument = training_argument or "training"
        self.input_names = list(input_names) if input_names else None
        self.named = named
        self.by_name = False  #: the port is called with a dict (set once it is built)
        # Keras 3 on JAX or PyTorch runs the port on its backend, whatever
        # TensorFlow's mode (a legacy program may have switched eager off).
        self.eager = _runtime.can_evaluate_eagerly() or _runtime.keras_backend() != "tensorflow"
        self.arrays = list(arrays) if arrays is not None else None
        self.graph: Any = None
        self.session: Any = None
        if self.eager:
            tf.random.set_seed(seed)
            with zeros_initialized(tf, not read_values if zeros is None else zeros), numbered_variables():
                self.model = self._check(builder())
                self.check_training_argument()
                self._name_inputs()
                if not self._weights() and self.arrays is not None:
                    try:
                        self.call(self.arrays, False)  # a subclassed model builds its weights on its first call
                    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
                        raise UsageError("the port cannot be built by a call on the inputs ({}): {}".format(
                            ", ".join("shape {} {}".format(x.shape, x.dtype) for x in self.arrays),
                            first_line(error))) from None
        else:
            self.graph = tf.Graph()
            with self.graph.as_default():
                tf.compat.v1.set_random_seed(seed)
                self.model = self._check(builder())
                self.check_training_argument()
                self._name_inputs()
                self.placeholders = [tf.compat.v1.placeholder(tf.as_dtype(x.dtype), (None,) + x.shape[1:])
                                     for x in (self.arrays or [])]
                self.symbolic: Dict[bool, List[Any]] = {}
                self.training_ops: List[Any] = []  #: the ops of the training-mode call
                if self.arrays is not None:
                    try:
                        self.symbolic[False] = self.call(self.placeholders, False)
                    except (ValueError, TypeError) as error:
                        raise UsageError("the port cannot take the inputs ({}): {}".format(
                            ", ".join("shape {} {}".format(x.shape, x.dtype) for x in self.arrays),
                            first_line(error))) from None
        weights = self._weights()
        if not weights and getattr(self.model, "built", True) is False:
            raise UsageError(
                "the port has no weights (it is not built){}; received {}".format(
                    "" if self.arrays is None else " even after a call on the inputs",
                    describe_value(self.model)) + (
                    "" if self.arrays is not None else ": a subclassed model creates them on its first call, so "
                    "pass inputs= (--inputs) to build it"))
        self.weights = weights
        values: List[Any]
        if not read_values:
            values = [None] * len(weights)
        elif self.eager:
            values = [np.asarray(w.numpy()) for w in weights]
        else:
            with self.graph.as_default():
                self.session = tf.compat.v1.Session(graph=self.graph)
                self.session.run(tf.compat.v1.global_variables_initializer())
                values = self.session.run([_runtime.fetchable_variable(w) for w in weights])
        self.vars = [Var(weight_name(w), tuple(int(d) for d in tf.TensorShape(w.shape).as_list()),
                         str(getattr(w.dtype, "name", w.dtype)), bool(getattr(w, "trainable", True)), i,
                         None if v is None else np.asarray(v), w)
                     for i, (w, v) in enumerate(zip(weights, values))]
        axes = kernel_axes_of_model(self.model)
        for var in self.vars:
            var.axes = axes.get(id(var.handle))
        try:
            self.theories = weight_theories(self.model) if hasattr(self.model, "trainable_weights") else {}
        except Exception:  # noqa: BLE001 - a model whose layers compat_init cannot walk: no theories
            self.theories = {}

    def _check(self, model: Any) -> Any:
        tf = self.tf
        if isinstance(model, tf.Module) or hasattr(model, "trainable_weights") or (
                callable(model) and hasattr(model, "trainable_variables")):
            return model
        raise UsageError("the port builder must return a Keras model or layer or a tf.Module; received {}".format(
            describe_value(model)))

    def _raw(self, known: Sequence[Any]) -> List[Any]:
        tf = self.tf
        held = set(id(_runtime.fetchable_variable(w)) if _runtime.keras_flavour() == "keras3"
                   and not isinstance(w, tf.Variable) else id(w) for w in known)
        held |= set(id(w) for w in known)
        return [v for v in raw_variables(self.model, tf) if id(v) not in held]

    def _weights(self) -> List[Any]:
        model = self.model
        if hasattr(model, "trainable_weights"):
            known = list(model.trainable_weights) + list(getattr(model, "non_trainable_weights", []))
        else:
            known = list(getattr(model, "trainable_variables", [])) + [
                v for v in getattr(model, "variables", []) if not v.trainable]
        raw = self._raw(known)
        trainable = [w for w in known if getattr(w, "trainable", True)] + [v for v in raw if v.trainable]
        state = [w for w in known if not getattr(w, "trainable", True)] + [v for v in raw if not v.trainable]
        seen, ordered = set(), []
        for w in in_creation_order(trainable) + in_creation_order(state):
            if id(w) not in seen:
                seen.add(id(w))
                ordered.append(w)
        return ordered

    def _takes_training(self) -> bool:
        """Whether the port's call takes ``training`` (a Keras model or layer
        whose ``call`` names it or takes ``**kwargs``; a tf.Module's
        ``__call__`` likewise)."""
        parameters = self._call_parameters()
        if parameters is None:
            return True
        return any(p.name == self.training_argument or p.kind == p.VAR_KEYWORD for p in parameters)

    def _call_parameters(self) -> Optional[List[Any]]:
        """The parameters of the port's ``call`` (a tf.Module's ``__call__``),
        or None where they cannot be read."""
        call = getattr(self.model, "call", None) or getattr(self.model, "__call__")
        call = inspect.unwrap(getattr(call, "__wrapped__", call))
        try:
            return list(inspect.signature(call).parameters.values())
        except (TypeError, ValueError):
            return None

    def check_training_argument(self) -> None:
        """A ``training_argument`` other than ``training`` must be one the
        port's call takes."""
        parameters = self._call_parameters()
        if self.training_argument != "training" and parameters is not None and not any(
                p.name == self.training_argument or p.kind == p.VAR_KEYWORD for p in parameters):
            raise UsageError("training_argument must name an argument of the port's call ({}); received "
                             "training_argument={!r}".format(", ".join(p.name for p in parameters) or "none",
                                                            self.training_argument))

    def training_switches(self) -> List[str]:
        """The arguments of the port's call that look like a training switch
        (a name with "train" in it, or a boolean default) other than the one
        the proof passes."""
        found = []
        for p in self._call_parameters() or []:
            if p.name == self.training_argument or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            if "train" in p.name.lower() or isinstance(p.default, bool):
                found.append(p.name)
        return found

    def dropout_layers(self) -> List[Tuple[str, float]]:
        """(name, rate) of the port's dropout layers with a positive rate."""
        if not hasattr(self.model, "trainable_weights"):
            return []
        return [(layer.name, round(float(getattr(layer, "rate", 0.0) or 0.0), 6)) for layer in layers_of(self.model)
                if "Dropout" in type(layer).__name__ and float(getattr(layer, "rate", 0.0) or 0.0) > 0]

    def port_input_names(self) -> List[str]:
        """The names of a functional port's inputs ([] when it has none)."""
        names = getattr(self.model, "input_names", None)
        if not names:
            names = [getattr(t, "name", "") for t in getattr(self.model, "inputs", None) or []]
        return [str(n).split(":")[0] for n in names or [] if n]

    def _name_inputs(self) -> None:
        """Whether the port is called with a dict of its inputs by name."""
        if not self.input_names:
            return
        known = self.port_input_names()
        missing = [n for n in self.input_names if n not in known]
        if not missing:
            self.by_name = True
        elif self.named:
            raise UsageError("input_map must name the port's inputs ({}); received {}".format(
                ", ".join(known) or "none: the port takes its inputs by position", ", ".join(missing)))

    def call(self, arrays: Sequence[Any], training: bool) -> List[Any]:
        if self.by_name:
            x: Any = dict(zip(self.input_names or [], arrays))
        else:
            x = list(arrays) if len(arrays) > 1 else arrays[0]
        if self._takes_training():
            return output_list(self.model(x, **{self.training_argument: training}))
        return output_list(self.model(x))  # a tf.Module, or a layer whose call takes no training argument

    # Reading and writing weights ------------------------------------------------

    def handle(self, index: int) -> Any:
        weight = self.weights[index]
        return weight if self.eager else _runtime.fetchable_variable(weight)

    def dropout_rates(self) -> Tuple[List[float], str]:
        """The rates of the dropouts the port applies in training, read from
        its training-mode graph (a ``tf.function`` trace on TF 2), as the
        legacy graph's are: Keras ``Dropout`` layers, attention dropout and
        functional ``dropout`` calls alike.  ([], why) when it cannot be traced."""
        tf = self.tf
        arrays = self.arrays or []
        if not arrays:
            return [], "no inputs to trace the port with"
        if _runtime.keras_backend() != "tensorflow":
            return self._backend_dropout_rates()
        try:
            if self.eager:
                specs = [tf.TensorSpec((None,) + tuple(x.shape[1:]), tf.as_dtype(x.dtype)) for x in arrays]
                traced = tf.function(lambda *xs: self.call(list(xs), True), autograph=False)
                graph = traced.get_concrete_function(*specs).graph
                return dropout_rates(tf, graph)[0], ""
            # In a graph: the ops of the training-mode call (the graph also holds
            # the model's construction, which may have built dropouts of its own).
            self.symbolic_outputs(True)
            return dropout_rates(tf, self.graph, self.training_ops)[0], ""
        except Exception as error:  # noqa: BLE001 - a port that cannot be traced: said, not guessed
            return [], "the port's training-mode graph could not be traced ({})".format(first_line(error))

    def _backend_dropout_rates(self) -> Tuple[List[float], str]:
        """On Keras 3's JAX or PyTorch backend (no TensorFlow trace): the rate
        of each call of Keras' backend dropout during one training-mode call,
        in call order (``Dropout`` layers, attention dropout and
        ``keras.random.dropout`` all call it)."""
        import keras.src.backend as keras_backend

        module = keras_backend.random
        original = module.dropout
        rates: List[float] = []

        def recording(inputs: Any, rate: Any, *args: Any, **kwargs: Any) -> Any:
            rates.append(float(rate))
            return original(inputs, rate, *args, **kwargs)

        module.dropout = recording
        try:
            self.call(self.arrays or [], True)
        except Exception as error:  # noqa: BLE001 - said, not guessed
            return [], "the port's training-mode call failed ({})".format(first_line(error))
        finally:
            module.dropout = original
        return rates, ""

    def symbolic_outputs(self, training: bool) -> List[Any]:
        """In a graph: the outputs of one call on the placeholders in that mode,
        made once (each call adds its own batch-norm updates)."""
        tf = self.tf
        if training not in self.symbolic:
            with self.graph.as_default():
                first = len(self.graph.get_operations())
                known = set(id(v) for v in tf.compat.v1.global_variables())
                self.symbolic[training] = self.call(self.placeholders, training)
                if training:
                    self.training_ops = self.graph.get_operations()[first:]
                new = [v for v in tf.compat.v1.global_variables() if id(v) not in known]
                if new:
                    self.session.run(tf.compat.v1.variables_initializer(new))
        return self.symbolic[training]

    def training_layers(self) -> List[str]:
        """The port's layers that act differently in training (batch norm, dropout)."""
        if not hasattr(self.model, "trainable_weights"):
            return []
        return [layer.name for layer in layers_of(self.model)
                if "BatchNormalization" in type(layer).__name__ or "Dropout" in type(layer).__name__]

    # Locating -----------------------------------------------------------------------

    def layer_outputs(self, arrays: Sequence[np.ndarray]) -> Tuple[List[Tuple[str, str, np.ndarray]], str]:
        """(layer name, class, output) of every layer and sublayer, in the order
        their calls finish (leaves before the layers that hold them), and the
        reason when they cannot be read."""
        if not hasattr(self.model, "trainable_weights"):
            return [], "the port is a {}, not a Keras model: its intermediate outputs have no names".format(
                type(self.model).__name__)
        layers = [layer for layer in layers_of(self.model) if type(layer).__name__ != "InputLayer"]
        recorded: List[Tuple[Any, Any]] = []
        originals = []
        for layer in layers:
            if "call" in vars(layer):
                continue
            original = layer.call

            hooked = self.tf.autograph.experimental.do_not_convert(_recorder(recorded, layer, original))

            try:
                object.__setattr__(layer, "call", hooked)
            except Exception:  # noqa: BLE001 - a layer that refuses attributes: not hooked
                continue
            originals.append(layer)
        try:
            if self.eager:
                self.call(arrays, False)
                values = [(layer, out) for layer, out in recorded]
            else:
                with self.graph.as_default():
                    self.call(self.placeholders, False)
                    fetch = [(layer, out) for layer, out in recorded]
                    results = self.session.run([o for _, o in fetch], feed_dict=dict(zip(self.placeholders, arrays)))
                    values = [(layer, r) for (layer, _), r in zip(fetch, results)]
        except Exception as error:  # noqa: BLE001 - the reason is the answer
            return [], "the port's layer outputs could not be read ({})".format(first_line(error))
        finally:
            for layer in originals:
                try:
                    object.__delattr__(layer, "call")
                except Exception:  # noqa: BLE001
                    pass
        found = []
        for layer, out in values:
            for i, value in enumerate(output_list(out)):
                try:
                    array = to_numpy(value)
                except Exception:  # noqa: BLE001 - not an array (a state tuple)
                    continue
                if array.dtype.kind == "f":
                    found.append((layer.name if i == 0 else "{}[{}]".format(layer.name, i), type(layer).__name__,
                                  array))
        if not found:
            return [], "no layer of the port produced a readable output"
        return found, ""

    def flow(self) -> Any:
        """(the dataflow of the port's call at inference (``traced_flow``),
        ""), or (None, why) where it cannot be traced: a graph-mode
        TensorFlow, another backend, a subclassed model (no input specs), a
        call that fails."""
        if not self.eager or _runtime.keras_backend() != "tensorflow":
            return None, "the port does not run as a TensorFlow function here"
        try:
            return traced_flow(self.tf, self.model, self.weights, [v.name for v in self.vars],
                               self.training_argument), ""
        except Exception as error:  # noqa: BLE001 - whatever stops a trace leaves the pairing without it, said
            return None, "its call could not be traced ({})".format(first_line(error))

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
