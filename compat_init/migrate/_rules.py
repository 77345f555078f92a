"""The rewrite rules: legacy initializer calls -> compat_init calls.

Pure data and pure functions over argument lists; no libcst here.  The rules
are built from the initializer registry (``compat_init._registry``): every
spelling real TF1 code uses for a member (``tf.``/``tf.compat.v1.``/
``tf.initializers.``/``tf.keras.initializers.``/``keras.initializers.``,
snake and Camel, contrib/slim/tf_slim, ``init_ops``) maps to its factory.
Each rule maps a legacy call's arguments (bound to the legacy signature) to
the keyword arguments of a compat_init factory, or refuses with a reason.

A converted argument is either one of the call's own arguments (``Arg``: the
transformer reuses that node, comments and all), a short new literal (a
``str`` of code), or ``Wrap(func, arg)`` (the call's own argument inside a
call such as ``bool(...)``).
"""
from __future__ import annotations

from typing import Callable, Dict, List, NamedTuple, Optional, Tuple, Union

from compat_init import _registry, _validate  # both pure Python

_NO_VALUE = object()
NO_VALUE = _NO_VALUE


class Arg(NamedTuple):
    """A bound argument: its source text, its value when it is a literal
    (else ``NO_VALUE``), and an opaque handle the transformer gets back."""

    code: str
    value: object
    handle: object = None


class Wrap(NamedTuple):
    """``func(arg)``: the call's own argument inside a call."""

    func: str
    arg: Arg


Converted = List[Tuple[str, Union[Arg, str, Wrap]]]


class Unmappable(Exception):
    """The call cannot be rewritten safely; the message says why."""


class Rule:
    """One family of legacy names with the same signature and mapping."""

    def __init__(self, names: List[str], params: List[str], target: str,
                 convert: Callable[[Dict[str, Arg]], Converted],
                 note: Optional[Callable[[Dict[str, Arg]], Optional[str]]] = None) -> None:
        self.names = names
        self.params = params
        self.target = target  # the factory's name in compat_init
        self.convert = convert
        self.note = note  # a remark on a rewritten call (e.g. a default whose meaning changed)


FLOAT32_SPELLINGS = {
    "tf.float32", "tensorflow.float32", "tf.dtypes.float32", "'float32'", '"float32"',
    "np.float32", "numpy.float32", "dtypes.float32",
}


def _dtype_is_float32(args: Dict[str, Arg]) -> None:
    """compat_init's factories take the dtype at call time; only float32 (the
    legacy default, and what Keras layers pass) can be dropped unchanged."""
    if "dtype" in args and args["dtype"].code.replace(" ", "") not in FLOAT32_SPELLINGS:
        raise Unmappable(
            "dtype={} cannot be moved onto compat_init (its factories take the dtype "
            "at call time)".format(args["dtype"].code))


def _seed_in_range(args: Dict[str, Arg]) -> None:
    """A literal seed compat_init would refuse at run time stays legacy."""
    if "seed" not in args:
        return
    value = args["seed"].value
    if value is None or value is _NO_VALUE:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not _validate.SEED_MIN <= value <= _validate.SEED_MAX:
        raise Unmappable(
            "seed={} is outside compat_init's seed range [0, 2**31 - 3] (where Keras 2 and Keras 3 "
            "draw the same tensor)".format(args["seed"].code))


def _literal(args: Dict[str, Arg], name: str) -> object:
    arg = args[name]
    if arg.value is _NO_VALUE:
        raise Unmappable("{}={} is not a literal; cannot map it safely".format(name, arg.code))
    return arg.value


def _keep(*names: str) -> Callable[[Dict[str, Arg]], Converted]:
    def convert(args: Dict[str, Arg]) -> Converted:
        _dtype_is_float32(args)
        return [(n, args[n]) for n in names if n in args]
    return convert


def _contrib_variance_scaling(args: Dict[str, Arg]) -> Converted:
    """contrib (factor, mode='FAN_IN', uniform=False) -> variance_scaling.

    contrib's uniform=True draws U(-sqrt(3 factor / n), ...), exactly
    variance_scaling(scale=factor, distribution="uniform").  uniform=False drew
    a truncated normal with stddev sqrt(1.3 factor / n) (variance 1.00586
    factor / n): mapped to distribution="truncated_normal" (variance factor /
    n), the same decision as xavier_initializer(uniform=False).
    """
    _dtype_is_float32(args)
    out: Converted = [("scale", args["factor"] if "factor" in args else "2.0")]
    mode = _literal(args, "mode") if "mode" in args else "FAN_IN"
    if not isinstance(mode, str) or mode.upper() not in ("FAN_IN", "FAN_OUT", "FAN_AVG"):
        raise Unmappable("mode={!r} is not one of FAN_IN, FAN_OUT, FAN_AVG".format(mode))
    out.append(("mode", repr(mode.lower())))
    uniform = _literal(args, "uniform") if "uniform" in args else False
    out.append(("distribution", repr("uniform" if uniform else "truncated_normal")))
    if "seed" in args:
        out.append(("seed", args["seed"]))
    return out


def _xavier(args: Dict[str, Arg]) -> Converted:
    """contrib's xavier_initializer(uniform=True, seed=None, dtype=float32).
    contrib tested ``uniform`` for truth (1 worked); compat_init takes a bool:
    a literal becomes True/False, anything else ``bool(...)``."""
    out: Converted = []
    if "uniform" in args:
        value = args["uniform"].value
        if isinstance(value, bool):
            out.append(("uniform", args["uniform"]))
        elif value is _NO_VALUE:
            out.append(("uniform", Wrap("bool", args["uniform"])))
        else:
            out.append(("uniform", repr(bool(value))))
    out.extend((n, args[n]) for n in ("seed", "dtype") if n in args)
    return out


def _v1_variance_scaling(args: Dict[str, Arg]) -> Converted:
    _dtype_is_float32(args)
    return [(n, args[n]) for n in ("scale", "mode", "distribution", "seed") if n in args]


def _random(row: _registry.Member, legacy_defaults: bool) -> Callable[[Dict[str, Arg]], Converted]:
    """The new members: the call's arguments kept; with ``legacy_defaults``
    (a v1 spelling) the v1 function's own defaults written out where the
    call relies on them (``tf.random_normal_initializer()`` drew N(0, 1))."""
    defaults = dict(row.v1_defaults) if legacy_defaults else {}

    def convert(args: Dict[str, Arg]) -> Converted:
        _dtype_is_float32(args)
        out: Converted = []
        for name, _ in row.params:
            if name in args:
                if name == "maxval" and args[name].value is None:  # init_ops: None is 1.0
                    out.append((name, "1.0"))
                else:
                    out.append((name, args[name]))
            elif name in defaults:
                out.append((name, repr(float(defaults[name]))))
        if "seed" in args:
            out.append(("seed", args["seed"]))
        return out

    return convert


def _default_note(row: _registry.Member, spelling: str) -> Callable[[Dict[str, Arg]], Optional[str]]:
    """A plain ``tf.`` spelling whose default means something else on TF 2
    (``tf.random_normal_initializer`` is init_ops_v2's N(0, 0.05) there)."""
    relied = [name for name, _ in row.v1_defaults]

    def note(args: Dict[str, Arg]) -> Optional[str]:
        missing = [n for n in relied if n not in args]
        if not missing:
            return None
        return ("{} relied on its defaults ({}): the TF 1.x ones were written out; on TF 2.x "
                "this spelling defaults to Keras' ({}): check which TensorFlow the code ran on".format(
                    spelling, ", ".join("{}={}".format(n, dict(row.v1_defaults)[n]) for n in missing),
                    ", ".join("{}={}".format(n, dict(row.params)[n]) for n in missing)))

    return note


def _uus_note(args: Dict[str, Arg]) -> Optional[str]:
    return ("uniform_unit_scaling is variance_scaling(factor**2, 'fan_in', 'uniform'): the same "
            "for kernels; a rank-1 shape now uses fan_in = shape[0] (TF 1.x used 1)")


# Where each spelling family lives.
KERAS_NAMESPACES = (
    "tensorflow.keras.initializers",
    "tensorflow.compat.v1.keras.initializers",
    "tensorflow.compat.v2.keras.initializers",
    "tensorflow.python.keras.initializers",
    "keras.initializers",
    "tf_keras.initializers",
)
V1_NAMESPACES = ("tensorflow", "tensorflow.compat.v1", "tensorflow.python.ops.init_ops")
CONTRIB_NAMESPACES: Tuple[str, ...] = (
    "tensorflow.contrib.layers",
    "tensorflow.contrib.layers.initializers",
    "tensorflow.contrib.layers.python.layers.initializers",
    "tensorflow.contrib.slim",
    "tensorflow.contrib.slim.initializers",
    "tf_slim",
    "tf_slim.initializers",
    "tf_slim.layers",
    "tf_slim.layers.initializers",
)
#: ``import tensorflow.compat.v1 as tf`` (what tf_upgrade_v2 writes) keeps
#: ``tf.contrib.layers.xavier_initializer()``: the same calls, which fail on TF 2.
CONTRIB_NAMESPACES += tuple(ns.replace("tensorflow.", "tensorflow.compat.v1.", 1)
                            for ns in CONTRIB_NAMESPACES if ns.startswith("tensorflow.contrib"))
#: The TF 1.x layers Keras 3 removed (compat-init migrate notes each call).
V1_LAYERS_NAMESPACES = ("tensorflow.compat.v1.layers", "tensorflow.layers")


def _family_rules() -> List[Rule]:
    """Every registry member under every spelling of its."""
    rules = []
    for row in _registry.MEMBERS:
        params = [name for name, _ in row.params]
        target = row.name
        if row.kind == "variance_scaling" and row.preset is not None:
            name, camel = row.name, row.keras[0]
            legacy = ["tensorflow.initializers." + name, "tensorflow.compat.v1.initializers." + name,
                      "tensorflow.initializers." + camel, "tensorflow.compat.v2.initializers." + camel]
            legacy += [ns + "." + n for ns in KERAS_NAMESPACES for n in (name, camel)]
            if row.v1 == name + "_initializer":  # glorot_*: tf.glorot_uniform_initializer
                legacy += [ns + "." + row.v1 for ns in V1_NAMESPACES]
            rules.append(Rule(legacy, ["seed", "dtype"], target, _keep("seed")))
        elif row.name == "variance_scaling":
            legacy = [ns + "." + row.v1 for ns in V1_NAMESPACES]
            legacy += ["tensorflow.initializers.variance_scaling", "tensorflow.compat.v1.initializers.variance_scaling",
                       "tensorflow.initializers.VarianceScaling"]
            legacy += [ns + "." + n for ns in KERAS_NAMESPACES for n in ("VarianceScaling", "variance_scaling")]
            rules.append(Rule(legacy, params + ["seed", "dtype"], target, _v1_variance_scaling))
        elif row.name != "variance_scaling":
            short = row.v1[:-len("_initializer")]
            # v1 spellings: the v1 function's defaults
            for spelling in [ns + "." + row.v1 for ns in V1_NAMESPACES] + [
                    "tensorflow.initializers." + short, "tensorflow.compat.v1.initializers." + short]:
                # a plain tf. spelling that TF 2 gave other defaults (init_ops_v2, Keras)
                ambiguous = spelling in ("tensorflow.random_normal_initializer",
                                         "tensorflow.random_uniform_initializer",
                                         "tensorflow.initializers." + short)
                note = _default_note(row, spelling.replace("tensorflow.", "tf.", 1)) if (
                    ambiguous and row.v1_defaults) else None
                if row.name == "uniform_unit_scaling":
                    note = _uus_note
                rules.append(Rule([spelling], params + ["seed", "dtype"], target, _random(row, True), note))
            # Keras spellings: Keras' defaults, compat_init's own
            keras_names = list(row.keras) + [row.name]
            keras_names += {"random_normal": ["normal"], "random_uniform": ["uniform"]}.get(row.name, [])
            if row.name != "uniform_unit_scaling":
                legacy = [ns + "." + n for ns in KERAS_NAMESPACES for n in keras_names]
                legacy += ["tensorflow.initializers." + n for n in row.keras]
                rules.append(Rule(legacy, params + ["seed", "dtype"], target, _random(row, False)))
    contrib = ["xavier_initializer", "xavier_initializer_conv2d"]
    rules.append(Rule([ns + "." + n for ns in CONTRIB_NAMESPACES for n in contrib],
                      ["uniform", "seed", "dtype"], "xavier_initializer", _xavier))
    rules.append(Rule([ns + ".variance_scaling_initializer" for ns in CONTRIB_NAMESPACES],
                      ["factor", "mode", "uniform", "seed", "dtype"], "variance_scaling",
                      _contrib_variance_scaling))
    return rules


RULES: List[Rule] = _family_rules()

BY_NAME: Dict[str, Rule] = {}
for _rule in RULES:
    for _name in _rule.names:
        BY_NAME.setdefault(_name, _rule)

#: The last name of every legacy spelling: a call whose callee ends with one
#: of these but resolves to nothing above is reported "not resolved".
LEGACY_LAST_NAMES = frozenset(name.rsplit(".", 1)[1] for name in BY_NAME)
#: Of those, the ones distinctive enough to flag even outside an
#: ``initializers`` namespace (``*_initializer``, Keras' Camel classes).
DISTINCTIVE_LAST_NAMES = frozenset(
    n for n in LEGACY_LAST_NAMES if n.endswith("_initializer") or n.endswith("_initializer_conv2d")
    or n[:1].isupper())


def looks_legacy(dotted: str) -> bool:
    """``dotted`` (a callee as written) looks like a legacy initializer."""
    parts = dotted.split(".")
    last = parts[-1]
    if last in DISTINCTIVE_LAST_NAMES:
        return True
    return last in LEGACY_LAST_NAMES and len(parts) > 1 and parts[-2] == "initializers"


def check_call(rule: Rule, bound: Dict[str, Arg]) -> Converted:
    """The rule's conversion after the checks every rule shares."""
    _seed_in_range(bound)
    return rule.convert(bound)


def bind(rule: Rule, positional: List[Arg], keywords: Dict[str, Arg]) -> Dict[str, Arg]:
    """Binds a call's arguments to the legacy signature."""
    if len(positional) > len(rule.params):
        raise Unmappable("too many positional arguments for {}".format(rule.names[0]))
    bound = dict(zip(rule.params, positional))
    for key, value in keywords.items():
        if key not in rule.params:
            raise Unmappable("unknown argument {}= for {}".format(key, rule.names[0]))
        if key in bound:
            raise Unmappable("argument {} given twice".format(key))
        bound[key] = value
    return bound


def describe() -> List[Tuple[str, str]]:
    """(legacy name, compat_init target) for the README's rule list."""
    return [(name, "compat_init." + rule.target) for rule in RULES for name in rule.names]
