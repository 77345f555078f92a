"""The rewrite rules: legacy initializer calls -> compat_init calls.

Pure data and pure functions over argument lists; no libcst here.  Each rule
maps a legacy call's arguments (bound to the legacy signature) to the keyword
arguments of a compat_init factory, or refuses with a reason.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Tuple

from compat_init import _registry

#: A bound argument: its source text and, for literals, the Python value.
Arg = Tuple[str, object]
_NO_VALUE = object()


class Unmappable(Exception):
    """The call cannot be rewritten safely; the message says why."""


class Rule:
    """One family of legacy names with the same signature and mapping."""

    def __init__(self, names: List[str], params: List[str], target: str,
                 convert: Callable[[Dict[str, Arg]], List[Tuple[str, str]]]) -> None:
        self.names = names
        self.params = params
        self.target = target
        self.convert = convert


FLOAT32_SPELLINGS = {
    "tf.float32", "tensorflow.float32", "tf.dtypes.float32", "'float32'", '"float32"',
    "np.float32", "numpy.float32",
}


def _dtype_is_float32(args: Dict[str, Arg]) -> None:
    """compat_init's factories take the dtype at call time; only float32 (the
    legacy default, and what Keras layers pass) can be dropped unchanged."""
    if "dtype" in args and args["dtype"][0].replace(" ", "") not in FLOAT32_SPELLINGS:
        raise Unmappable(
            "dtype={} cannot be moved onto compat_init (its factories take the dtype "
            "at call time); left alone".format(args["dtype"][0]))


def _keep(*names: str) -> Callable[[Dict[str, Arg]], List[Tuple[str, str]]]:
    def convert(args: Dict[str, Arg]) -> List[Tuple[str, str]]:
        _dtype_is_float32(args)
        return [(n, args[n][0]) for n in names if n in args]
    return convert


def _literal(args: Dict[str, Arg], name: str) -> object:
    source, value = args[name]
    if value is _NO_VALUE:
        raise Unmappable("{}={} is not a literal; cannot map it safely; left alone".format(name, source))
    return value


def _contrib_variance_scaling(args: Dict[str, Arg]) -> List[Tuple[str, str]]:
    """contrib (factor, mode='FAN_IN', uniform=False) -> variance_scaling.

    contrib's uniform=True draws U(-sqrt(3 factor / n), ...), exactly
    variance_scaling(scale=factor, distribution="uniform").  uniform=False drew
    a truncated normal with stddev sqrt(1.3 factor / n) (variance 1.00586
    factor / n): mapped to distribution="truncated_normal" (variance factor /
    n), the same decision as xavier_initializer(uniform=False).
    """
    _dtype_is_float32(args)
    out = []
    out.append(("scale", args["factor"][0] if "factor" in args else "2.0"))
    mode = _literal(args, "mode") if "mode" in args else "FAN_IN"
    if not isinstance(mode, str) or mode.upper() not in ("FAN_IN", "FAN_OUT", "FAN_AVG"):
        raise Unmappable("mode={!r} is not one of FAN_IN, FAN_OUT, FAN_AVG; left alone".format(mode))
    out.append(("mode", repr(mode.lower())))
    uniform = _literal(args, "uniform") if "uniform" in args else False
    if not isinstance(uniform, bool):
        raise Unmappable("uniform={!r} is not True or False; left alone".format(uniform))
    out.append(("distribution", repr("uniform" if uniform else "truncated_normal")))
    if "seed" in args:
        out.append(("seed", args["seed"][0]))
    return out


def _v1_variance_scaling(args: Dict[str, Arg]) -> List[Tuple[str, str]]:
    _dtype_is_float32(args)
    return [(n, args[n][0]) for n in ("scale", "mode", "distribution", "seed") if n in args]


def _family_rules() -> List[Rule]:
    """The preset variance-scaling members of the registry under every
    spelling of theirs (snake and Camel, v1, v2 and Keras namespaces)."""
    rules = []
    for row in _registry.MEMBERS:
        if row.kind != "variance_scaling" or row.preset is None:
            continue
        name, camel = row.name, row.keras[0]
        legacy = [
            "tensorflow.initializers." + name,
            "tensorflow.compat.v1.initializers." + name,
            "tensorflow.keras.initializers." + name,
            "tensorflow.keras.initializers." + camel,
            "tensorflow.compat.v1.keras.initializers." + name,
            "tensorflow.compat.v1.keras.initializers." + camel,
            "tensorflow.compat.v2.keras.initializers." + camel,
            "keras.initializers." + name,
            "keras.initializers." + camel,
        ]
        if row.v1 == name + "_initializer":  # glorot_*: tf.glorot_uniform_initializer
            legacy += [
                "tensorflow." + row.v1,
                "tensorflow.compat.v1." + row.v1,
            ]
        rules.append(Rule(legacy, ["seed", "dtype"], "compat_init." + name, _keep("seed")))
    return rules


RULES: List[Rule] = _family_rules() + [
    Rule(
        ["tensorflow.contrib.layers.xavier_initializer",
         "tensorflow.contrib.layers.initializers.xavier_initializer",
         "tensorflow.contrib.slim.xavier_initializer",
         "tensorflow.contrib.slim.initializers.xavier_initializer"],
        ["uniform", "seed", "dtype"], "compat_init.xavier_initializer",
        lambda args: [(n, args[n][0]) for n in ("uniform", "seed", "dtype") if n in args],
    ),
    Rule(
        ["tensorflow.contrib.layers.variance_scaling_initializer",
         "tensorflow.contrib.layers.initializers.variance_scaling_initializer",
         "tensorflow.contrib.slim.variance_scaling_initializer",
         "tensorflow.contrib.slim.initializers.variance_scaling_initializer"],
        ["factor", "mode", "uniform", "seed", "dtype"], "compat_init.variance_scaling",
        _contrib_variance_scaling,
    ),
    Rule(
        ["tensorflow.variance_scaling_initializer",
         "tensorflow.compat.v1.variance_scaling_initializer",
         "tensorflow.initializers.variance_scaling",
         "tensorflow.compat.v1.initializers.variance_scaling",
         "tensorflow.keras.initializers.VarianceScaling",
         "tensorflow.keras.initializers.variance_scaling",
         "tensorflow.compat.v1.keras.initializers.VarianceScaling",
         "keras.initializers.VarianceScaling"],
        ["scale", "mode", "distribution", "seed", "dtype"], "compat_init.variance_scaling",
        _v1_variance_scaling,
    ),
]

BY_NAME: Dict[str, Rule] = {name: rule for rule in RULES for name in rule.names}


def bind(rule: Rule, positional: List[Arg], keywords: Dict[str, Arg]) -> Dict[str, Arg]:
    """Binds a call's arguments to the legacy signature."""
    if len(positional) > len(rule.params):
        raise Unmappable("too many positional arguments for {}; left alone".format(rule.names[0]))
    bound = dict(zip(rule.params, positional))
    for key, value in keywords.items():
        if key not in rule.params:
            raise Unmappable("unknown argument {}= for {}; left alone".format(key, rule.names[0]))
        if key in bound:
            raise Unmappable("argument {} given twice; left alone".format(key))
        bound[key] = value
    return bound


def describe() -> List[Tuple[str, str]]:
    """(legacy name, compat_init target) for the README's rule list."""
    return [(name, rule.target) for rule in RULES for name in rule.names]


NO_VALUE = _NO_VALUE
