"""The one table of initializers: one row per public factory.

Pure data (no TensorFlow, no libcst): the factories, the classes, ``theory()``,
parity, the command line and the codemod all read it.  Adding an initializer is
one row here plus, for a new ``kind``, its draw in ``_sampling`` and its
distribution in ``_fans``.

A row's ``kind`` says how the values are drawn:

* ``variance_scaling``: ``scale / n`` variance from the fans (``mode``), drawn
  ``uniform``, ``truncated_normal`` or ``untruncated_normal``;
* ``truncated_normal`` / ``normal``: ``mean`` and ``stddev`` (for the truncated
  one the untruncated parent's, cut at two of them);
* ``uniform``: ``[minval, maxval)``;
* ``orthogonal``: a ``gain``-scaled orthogonal matrix from the QR of a normal
  draw (not elementwise: a shard is a slice of the whole matrix).
"""
from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional, Tuple

KINDS = ("variance_scaling", "truncated_normal", "normal", "uniform", "orthogonal")


class Member(NamedTuple):
    """One initializer."""

    name: str  #: the factory's name: ``compat_init.<name>``
    kind: str  #: one of KINDS
    #: ``keras.initializers`` class names, the preferred first (Keras 3 also
    #: exports Orthogonal as OrthogonalInitializer).
    keras: Tuple[str, ...]
    #: the ``tf.compat.v1`` function whose result's class is the v1 parent.
    v1: str
    #: the factory's parameters besides ``seed``, with their (Keras) defaults.
    params: Tuple[Tuple[str, Any], ...]
    #: the kind's configuration fixed by this member (glorot_uniform:
    #: scale 1, fan_avg, uniform), or None when the parameters give it.
    preset: Optional[Tuple[Tuple[str, Any], ...]]
    #: the legacy v1 function's defaults where they differ from ``params``
    #: (``tf.random_normal_initializer()`` draws N(0, 1)): the codemod writes
    #: them out.
    v1_defaults: Tuple[Tuple[str, Any], ...]
    formula: str  #: for docs and errors
    reference: str = ""


def _vs(name: str, keras: str, v1: str, scale: float, mode: str, distribution: str,
        formula: str, reference: str) -> Member:
    return Member(name, "variance_scaling", (keras,), v1, (),
                  (("scale", scale), ("mode", mode), ("distribution", distribution)),
                  (), formula, reference)


_GLOROT = "Glorot & Bengio, AISTATS 2010"
_HE = "He et al., ICCV 2015"
_LECUN = "LeCun et al., Efficient Backprop, 1998"

MEMBERS: Tuple[Member, ...] = (
    _vs("glorot_uniform", "GlorotUniform", "glorot_uniform_initializer", 1.0, "fan_avg", "uniform",
        "U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))", _GLOROT),
    _vs("glorot_normal", "GlorotNormal", "glorot_normal_initializer", 1.0, "fan_avg",
        "truncated_normal", "truncated normal, variance 2 / (fan_in + fan_out)", _GLOROT),
    _vs("he_uniform", "HeUniform", "variance_scaling_initializer", 2.0, "fan_in", "uniform",
        "U(-limit, limit), limit = sqrt(6 / fan_in)", _HE),
    _vs("he_normal", "HeNormal", "variance_scaling_initializer", 2.0, "fan_in",
        "truncated_normal", "truncated normal, variance 2 / fan_in", _HE),
    _vs("lecun_uniform", "LecunUniform", "variance_scaling_initializer", 1.0, "fan_in", "uniform",
        "U(-limit, limit), limit = sqrt(3 / fan_in)", _LECUN),
    _vs("lecun_normal", "LecunNormal", "variance_scaling_initializer", 1.0, "fan_in",
        "truncated_normal", "truncated normal, variance 1 / fan_in", _LECUN),
    Member("variance_scaling", "variance_scaling", ("VarianceScaling",), "variance_scaling_initializer",
           (("scale", 1.0), ("mode", "fan_in"), ("distribution", "truncated_normal")), None, (),
           "variance scale / n, n = fan_in, fan_out or their mean"),
    Member("truncated_normal", "truncated_normal", ("TruncatedNormal",), "truncated_normal_initializer",
           (("mean", 0.0), ("stddev", 0.05)), None, (("mean", 0.0), ("stddev", 1.0)),
           "normal(mean, stddev) truncated at mean +- 2 stddev"),
    Member("random_normal", "normal", ("RandomNormal",), "random_normal_initializer",
           (("mean", 0.0), ("stddev", 0.05)), None, (("mean", 0.0), ("stddev", 1.0)),
           "normal(mean, stddev)"),
    Member("random_uniform", "uniform", ("RandomUniform",), "random_uniform_initializer",
           (("minval", -0.05), ("maxval", 0.05)), None, (("minval", 0.0), ("maxval", 1.0)),
           "U(minval, maxval)"),
    Member("orthogonal", "orthogonal", ("Orthogonal", "OrthogonalInitializer"), "orthogonal_initializer",
           (("gain", 1.0),), None, (),
           "gain * Q of the QR of a normal matrix (prod(shape[:-1]) x shape[-1])",
           "Saxe et al., ICLR 2014"),
    # TF 1.x's deprecated UniformUnitScaling: TF itself names
    # variance_scaling(scale=factor**2, mode="fan_in", distribution="uniform")
    # as the equivalent, and that is what both paths draw (README: the two
    # differences from TF 1.x's own formula).
    Member("uniform_unit_scaling", "variance_scaling", ("VarianceScaling",),
           "uniform_unit_scaling_initializer", (("factor", 1.0),), None, (),
           "U(-limit, limit), limit = factor * sqrt(3 / fan_in)"),
)

BY_NAME: Dict[str, Member] = {m.name: m for m in MEMBERS}

#: Aliases (JAX and Keras keep them the same way): alias -> member name.
ALIASES: Dict[str, str] = {
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
}

NAMES: Tuple[str, ...] = tuple(m.name for m in MEMBERS)

#: Every configuration key a member has (a class's constructor may take
#: others: those compat_init cannot honour are refused with their name).
CONFIG_KEYS = frozenset(
    [key for m in MEMBERS for key, _ in m.params + (m.preset or ())] + ["input_axes", "output_axes"])


def member(name: Any) -> Member:
    """The row called ``name`` (or an alias); ValueError naming the known ones."""
    if isinstance(name, str):
        found = BY_NAME.get(ALIASES.get(name, name))
        if found is not None:
            return found
    raise ValueError("name must be one of {}; received name={!r}".format(", ".join(NAMES), name))


def vs_config(row: Member, config: Dict[str, Any]) -> Tuple[float, str, str]:
    """(scale, mode, distribution) of a variance-scaling row for ``config``."""
    if row.name == "uniform_unit_scaling":
        factor = float(config["factor"])
        return factor * factor, "fan_in", "uniform"
    if row.preset is not None:
        preset = dict(row.preset)
        return preset["scale"], preset["mode"], preset["distribution"]
    return config["scale"], config["mode"], config["distribution"]
