"""The parity engine: draw from two initializer paths, test them with scipy.stats.

Each kernel gets five tests, every one against an exact null:

* ``ks_theory_reference`` / ``ks_theory_candidate``: one-sample Kolmogorov-Smirnov
  of each side against the exact theoretical distribution (``uniform``,
  ``truncnorm(-2, 2)`` or ``norm``);
* ``ks_2samp``: the two sides against each other;
* ``variance_reference`` / ``variance_candidate``: the sample variance against
  the theoretical one, a z-test whose standard error uses the distribution's
  exact kurtosis (``sigma**2 * sqrt((kurtosis - 1) / n)``);
* orthogonal kernels also get ``orthogonality_reference`` /
  ``orthogonality_candidate``: every whole draw's ``W'W / gain**2`` must be the
  identity within float rounding (deterministic: p is 1 or 0).

The whole report holds its family-wise false-alarm rate at ``alpha`` with a
Bonferroni correction: every test is judged at ``alpha / (number of tests)``.
"""
from __future__ import annotations

import functools
import inspect
import math
import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from compat_init import _classes, _fans, _runtime, _sampling, _validate
from compat_init._errors import DrawError, UsageError
from compat_init.parity._report import KernelReport, ParityReport, SideStats, TestResult

#: Values drawn per side by default.  The hardest fault in README.md, a 3 %
#: wider uniform limit, shifts the variance by 6.09 %; the variance z-test sees
#: it at z = 0.0609 * sqrt(n / 0.8) (0.8 = kurtosis - 1 of a uniform), 11.8 at
#: n = 30,000.  A report over 1,000 kernels judges each test at
#: 1e-4 / 5,000 = 2e-8 (|z| > 5.6), so power stays above 1 - 1e-9 there; a
#: one-kernel report catches a 1.7 % error in the std with 99 % power.
DEFAULT_SAMPLES = 30_000

#: The most memory one kernel's check may need (``memory_needed``): checks
#: past it are refused before anything is drawn.  2 GiB on this project's
#: 24 GiB, 2-core machine leaves room for TensorFlow and a few kernels tested
#: at once.
MEMORY_BUDGET = 2 * 2 ** 30


def _size(shape: Sequence[int]) -> int:
    size = 1
    for dim in shape:
        size *= int(dim)  # Python ints: a shape over 2**63 elements does not overflow
    return size


def _repeat_count(size: int, samples: int) -> int:
    """How many draws of a kernel of ``size`` values give ``samples`` values."""
    return max(1, int(math.ceil(samples / float(max(size, 1)))))


def _drawn_values(shape: Sequence[int], samples: int) -> int:
    size = _size(shape)
    return _repeat_count(size, samples) * size


def memory_needed(shape: Sequence[int], samples: int, dtype: str = "float32") -> int:
    """Bytes one kernel's check holds at its peak: both sides' raw draws
    (every repeat, or the whole kernel when it is larger than ``samples``)
    plus their float64 tested values, sorted copies and the concatenation."""
    itemsize = 8 if dtype == "float64" else 4
    drawn = _drawn_values(shape, samples)
    return 2 * (drawn * itemsize + drawn * 8 + 2 * min(drawn, samples) * 8)
SEED_LIMIT = _validate.SEED_MAX + 1
PARITY_DTYPES = ("float32", "float64")


def _seed_stream(seed: int, label: str, count: int) -> List[int]:
    """``count`` reproducible seeds in range, distinct per ``label``."""
    rng = np.random.RandomState((seed * 1_000_003 + zlib.crc32(label.encode())) % (2 ** 32))
    return [int(s) for s in rng.randint(0, SEED_LIMIT, size=count)]


class OrthogonalEntry:
    """The exact marginal of one entry of ``gain * Q`` (Q with orthonormal
    columns of length ``dim``): each column is uniform on the unit sphere, so
    an entry is ``gain * sign * sqrt(B)``, ``B ~ Beta(1/2, (dim - 1) / 2)``.
    Variance ``gain**2 / dim``; kurtosis ``3 dim / (dim + 2)``.  The entries of
    one column are dependent (their squares sum to ``gain**2``), which makes
    the KS and variance tests conservative, never liberal."""

    def __init__(self, gain: float, dim: int) -> None:
        self.gain = abs(float(gain))
        self.dim = int(dim)
        self._beta = stats.beta(0.5, (self.dim - 1) / 2.0)

    def cdf(self, x: Any) -> Any:
        x = np.asarray(x, dtype=np.float64)
        u = np.clip((x / self.gain) ** 2, 0.0, 1.0)
        return 0.5 + 0.5 * np.sign(x) * self._beta.cdf(u)

    def pdf(self, x: Any) -> Any:
        x = np.asarray(x, dtype=np.float64)
        u = (x / self.gain) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            density = np.where((u > 0) & (u < 1), self._beta.pdf(u) * np.abs(x) / self.gain ** 2, 0.0)
        return density

    def var(self) -> float:
        return self.gain ** 2 / self.dim

    def stats(self, moments: str = "k") -> float:
        """Excess kurtosis (the only moment the engine asks for)."""
        return 3.0 * self.dim / (self.dim + 2.0) - 3.0


def _distribution(theory: _fans.Theory) -> Any:
    if theory.distribution == "uniform":
        return stats.uniform(loc=theory.low, scale=theory.high - theory.low)
    if theory.distribution == "truncated_normal":
        return stats.truncnorm(-2.0, 2.0, loc=theory.mean, scale=(theory.high - theory.low) / 4.0)
    if theory.distribution == "orthogonal":
        return OrthogonalEntry(theory.bound, theory.dim)
    return stats.norm(loc=theory.mean, scale=theory.std)


#: An orthogonal draw passes when ``max |W'W / gain**2 - I|`` is below this
#: many machine epsilons of its dtype times ``sqrt(dim)`` (the rounding of a
#: Householder QR grows about as sqrt(dim) eps; measured here: at most
#: 2 sqrt(dim) eps in float32 and float64 up to 2048 x 1024).  A matrix that is
#: not orthogonal, or has a gain 1 % off, is off by far more.
ORTHOGONALITY_EPS = 64.0


def orthogonality(arrays: List[Any], theory: _fans.Theory) -> Tuple[float, float]:
    """(max deviation of ``W'W / gain**2`` from the identity over every draw,
    the tolerance) for one side of an orthogonal kernel."""
    worst = 0.0
    tolerance = 0.0
    for values in arrays:
        values = np.asarray(values)
        matrix = values.reshape(-1, values.shape[-1]).astype(np.float64) / theory.bound
        if matrix.shape[0] < matrix.shape[1]:
            matrix = matrix.T
        gram = matrix.T @ matrix
        worst = max(worst, float(np.max(np.abs(gram - np.eye(gram.shape[0])))))
        tolerance = ORTHOGONALITY_EPS * float(np.finfo(values.dtype).eps) * math.sqrt(theory.dim)
    return worst, tolerance


def _is_v1_object(obj: Any) -> bool:
    return isinstance(obj, _runtime.v1_initializer_base())


def _clone_with_seed(obj: Any, seed: int) -> Any:
    config = dict(obj.get_config())
    config["seed"] = seed
    return type(obj).from_config(config)


def _seeded(obj: Any) -> bool:
    get_config = getattr(obj, "get_config", None)
    if get_config is None:
        return False
    try:
        return get_config().get("seed") is not None
    except Exception:  # noqa: BLE001 - a foreign object's config
        return False


def _makers(obj: Any, shape: Tuple[int, ...], repeats: int, seeds: List[int], dtype: str,
            seeded: bool) -> List[Callable[[], Any]]:
    """``repeats`` callables, each making one independent draw of ``obj``.

    A seeded initializer is cloned with a fresh seed per repeat (the same seed
    would repeat the same values); anything else is called ``repeats`` times.
    """
    if seeded:
        return [functools.partial(_clone_and_call, obj, s, shape, dtype) for s in seeds]
    return [functools.partial(_call, obj, shape, dtype)] * repeats


def _clone_and_call(obj: Any, seed: int, shape: Tuple[int, ...], dtype: str) -> Any:
    return _clone_with_seed(obj, seed)(shape, dtype=dtype)


def _graph_runs(job: Dict[str, Any]) -> Optional[Tuple[Any, List[Dict[Any, Any]]]]:
    """One draw op and the feeds that re-run it as every repeat, in a v1 graph.

    Building hundreds of ops for a small kernel's repeats costs far more than
    running one op hundreds of times.  Unseeded objects draw from stateful ops:
    each run is a fresh draw.  compat_init's seeded objects draw from the
    ``[seed, 0]`` constant named ``_sampling.SEED_TENSOR_NAME``: each run feeds
    the next seed, which is what a clone with that seed would draw.  Anything
    else (a foreign seeded object) returns None and is built repeat by repeat.
    """
    makers = job["makers"]
    if len(makers) < 2:
        return None
    tf = _runtime.tf()
    graph = tf.compat.v1.get_default_graph()
    before = len(graph.get_operations())
    tensor = makers[0]()
    if not tf.is_tensor(tensor):  # a callable that returns arrays: call it per repeat
        return None
    if not job["seeded"]:
        return tensor, [{}] * len(makers)
    if not isinstance(job["obj"], _classes._CompatInitializer):
        return None
    created = graph.get_operations()[before:]
    seeds = [op.outputs[0] for op in created
             if op.type == "Const" and op.name.split("/")[-1].startswith(_sampling.SEED_TENSOR_NAME)]
    if len(seeds) != 1:
        return None
    return tensor, [{seeds[0]: [s, 0]} for s in job["seeds"]]


def _needs_graph(obj: Any, eager: bool) -> bool:
    return not eager or _is_v1_object(obj)


def draw_all(
    jobs: Sequence[Dict[str, Any]],
    seed: int,
    done: Callable[[int, List[Any]], None],
) -> None:
    """Evaluates every job's draws: v1 objects in one fresh Graph + Session,
    everything else eagerly on a second thread at the same time (or also in
    the Session where nothing runs eagerly).  Hands each job's raw arrays to
    ``done(index, arrays)`` as soon as they exist, from either thread."""
    tf = _runtime.tf()
    # Without eager execution (TF 1.x; TF 2 after disable_eager_execution()
    # or inside a user's Graph) every side is drawn in the Session.
    eager = _runtime.can_evaluate_eagerly()
    graph_jobs: List[int] = []
    eager_jobs: List[int] = []
    for i, job in enumerate(jobs):
        (graph_jobs if _needs_graph(job["obj"], eager) else eager_jobs).append(i)

    def draw_eager() -> None:
        for i in eager_jobs:
            if not jobs[i]["seeded"]:
                # Unseeded draws are stateful: a global seed per job makes the
                # report reproducible.  Only for them: set_seed empties TF's
                # eager kernel cache, which tripled the eager draw time of
                # the ResNet-50 set of seeded kernels.
                tf.random.set_seed(jobs[i]["seed"])
            done(i, [np.asarray(make()) for make in jobs[i]["makers"]])

    if not graph_jobs:
        draw_eager()
        return
    # The eager draws run on a second thread while this one builds and runs
    # the v1 graph: TF releases the GIL while it computes, and building a
    # graph leaves the other core idle.  Graphs are thread-local; the eager
    # thread stays eager.
    with ThreadPoolExecutor(max_workers=1) as eager_thread:
        eager_draws = eager_thread.submit(draw_eager) if eager_jobs else None
        config = tf.compat.v1.ConfigProto()
        # Folding a seeded draw into a constant only costs time here.
        config.graph_options.rewrite_options.constant_folding = 2  # OFF
        with tf.Graph().as_default():
            tf.compat.v1.set_random_seed(seed)
            plans: Dict[int, Any] = {}
            for i in graph_jobs:
                plan: Any = _graph_runs(jobs[i])
                plans[i] = plan if plan is not None else [make() for make in jobs[i]["makers"]]
            with tf.compat.v1.Session(config=config) as session:
                built = {i: p for i, p in plans.items() if isinstance(p, list)}
                # a plain callable may return arrays (or anything): only tensors are fetched
                fetches = {i: [x for x in p if tf.is_tensor(x)] for i, p in built.items()}
                fetched = session.run(fetches) if fetches else {}
                for i, plan in built.items():
                    values = iter(fetched[i])
                    done(i, [next(values) if tf.is_tensor(x) else x for x in plan])
                for i, plan in plans.items():
                    if isinstance(plan, tuple):
                        tensor, feeds = plan
                        done(i, [session.run(tensor, feed_dict=feed) for feed in feeds])
        if eager_draws is not None:
            eager_draws.result()  # re-raises what the eager thread raised


def _sample(arrays: List[Any], samples: int, seed: int, shape: Tuple[int, ...], label: str,
            kernel: str, dtype: str) -> np.ndarray:
    """One side's tested values (``_flatten``), after checking that every draw
    is floating-point values of the requested shape and that the tested
    values are finite: anything else is a bug in that initializer, reported as
    such rather than tested."""
    for values in arrays:
        values = np.asarray(values)
        if values.shape != tuple(shape) or not np.issubdtype(values.dtype, np.floating):
            raise DrawError(
                "kernel {!r}: the {} initializer must return floating-point values of "
                "shape={}; received shape={}, dtype={}".format(
                    kernel, label, tuple(shape), values.shape, values.dtype))
        if values.dtype != np.dtype(dtype):
            hint = (" (JAX without x64 has no float64, for Keras' own initializers too: set JAX_ENABLE_X64=1)"
                    if np.dtype(dtype) == np.float64 and _runtime.keras_backend() == "jax" else "")
            raise DrawError(
                "kernel {!r}: the {} initializer must return {} values, the dtype the check "
                "asked for; received dtype={}{}".format(kernel, label, dtype, values.dtype, hint))
    flat = _flatten(arrays, samples, seed)
    bad = int(flat.size - np.count_nonzero(np.isfinite(flat)))
    if bad:
        raise DrawError(
            "kernel {!r}: the {} initializer must draw finite values; received {} NaN or "
            "infinite among the {} values tested (shape={})".format(
                kernel, label, bad, flat.size, tuple(shape)))
    return flat


def _flatten(values: List[Any], samples: int, seed: int) -> np.ndarray:
    """Concatenates the draws (repeats identical to the first dropped: they
    are not independent), subsamples ``samples`` of them uniformly without
    replacement when there are more, and returns them sorted, as float64."""
    arrays = [np.asarray(v).ravel() for v in values]
    # A seeded initializer that cannot be re-seeded (a plain function, a v1
    # object without get_config) repeats its values: count them once.
    arrays = arrays[:1] + [a for a in arrays[1:] if not np.array_equal(a, arrays[0])]
    flat = np.concatenate(arrays)
    if flat.size > samples:
        rng = np.random.default_rng(seed)
        flat = flat[rng.choice(flat.size, size=samples, replace=False)]
    return np.sort(flat.astype(np.float64))


def _takes_dtype(obj: Any) -> bool:
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):  # no signature to read: offer it
        return True
    return any(p.name == "dtype" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _call(obj: Any, shape: Tuple[int, ...], dtype: str) -> Any:
    """One draw in ``dtype``; a callable without a ``dtype`` parameter is
    called with the shape alone, and what it returns must then be in ``dtype``
    (``_sample`` checks): never retried in another dtype."""
    if _takes_dtype(obj):
        if _runtime.keras_backend() != "tensorflow" and _is_keras3(obj):
            return obj(shape, dtype=dtype)  # Keras 3 on JAX or PyTorch: a DType means nothing there
        # a DType, not "float32": tf.contrib's initializers read dtype.is_floating
        return obj(shape, dtype=_runtime.tf().as_dtype(dtype))
    return obj(shape)


def _is_keras3(obj: Any) -> bool:
    """A Keras 3 initializer (Keras' own, compat_init's subclasses of them)."""
    import keras

    return isinstance(obj, keras.initializers.Initializer)


def describe_object(obj: Any) -> str:
    """An initializer in a report: class, key configuration and path."""
    row, config = _fans.describe(obj)
    name = type(obj).__name__ if hasattr(obj, "get_config") else getattr(obj, "__name__", type(obj).__name__)
    if row is None:
        return name
    arguments = ["{}={!r}".format(k, v) for k, v in config.items() if v is not None]
    seed = getattr(obj, "seed", None)
    arguments.append("seed={!r}".format(seed if isinstance(seed, int) or seed is None else "generator"))
    path = "v1" if _is_v1_object(obj) else "Keras"
    return "{}({}) [{}]".format(name, ", ".join(arguments), path)


def side_stats(label: str, values: np.ndarray, theory: _fans.Theory) -> SideStats:
    """What one side drew (zeros for an empty array)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        moments = (0.0, 0.0, 0.0, 0.0)
    else:
        moments = (float(flat.mean()), float(flat.std()), float(flat.min()), float(flat.max()))
    return SideStats(label=label, n=int(flat.size), mean=moments[0], std=moments[1],
                     min=moments[2], max=moments[3], expected_std=theory.std, bound=theory.bound)


def _asymp() -> Dict[str, str]:
    return {_runtime.ks_method_keyword(): "asymp"}


def _variance_test(values: np.ndarray, frozen: Any) -> Tuple[float, float]:
    variance = float(frozen.var())
    kurtosis = float(frozen.stats(moments="k")) + 3.0
    n = values.size
    z = (float(values.var()) - variance) / (variance * math.sqrt((kurtosis - 1.0) / n))
    return z, float(2.0 * stats.norm.sf(abs(z)))


TESTS_PER_KERNEL = 5


def test_kernel(
    kernel: str,
    shape: Tuple[int, ...],
    reference: np.ndarray,
    candidate: np.ndarray,
    theory: _fans.Theory,
    labels: Tuple[str, str],
    threshold: float,
    checks: Sequence[TestResult] = (),
) -> KernelReport:
    frozen = _distribution(theory)
    results = list(checks)
    for name, sample in (("reference", reference), ("candidate", candidate)):
        # n >= 100: the asymptotic Kolmogorov distribution is accurate and
        # much cheaper than the exact one.
        statistic, p_value = stats.kstest(sample, frozen.cdf, **_asymp())
        results.append(TestResult("ks_theory_" + name, float(statistic), float(p_value), threshold))
    statistic, p_value = stats.ks_2samp(reference, candidate, **_asymp())
    results.append(TestResult("ks_2samp", float(statistic), float(p_value), threshold))
    for name, sample in (("reference", reference), ("candidate", candidate)):
        z, p_value = _variance_test(sample, frozen)
        results.append(TestResult("variance_" + name, z, p_value, threshold))
    return KernelReport(
        kernel=kernel, shape=tuple(shape), fan_in=theory.fan_in, fan_out=theory.fan_out,
        distribution=theory.distribution,
        reference=side_stats(labels[0], reference, theory),
        candidate=side_stats(labels[1], candidate, theory),
        tests=results,
    )


def _repeats(shape: Tuple[int, ...], samples: int, theory: _fans.Theory) -> int:
    size = _size(shape)
    if size == 0:
        raise UsageError(
            "shape must have at least one element for a parity check; received "
            "shape={}".format(shape)
        )
    if theory.distribution == "orthogonal" and theory.dim < 2:
        raise UsageError(
            "shape must have more than one row or column for an orthogonal parity check "
            "(a 1 x 1 orthogonal matrix is +-gain); received shape={}".format(shape))
    return _repeat_count(size, samples)


def run_pairs(
    pairs: Sequence[Dict[str, Any]],
    alpha: float,
    seed: Optional[int],
    samples: Optional[int],
    progress: Optional[Callable[[int], None]] = None,
    keep: Optional[Dict[str, Any]] = None,
    dtype: str = "float32",
) -> ParityReport:
    """Tests every pair; ``pairs`` holds dicts with kernel, shape, reference,
    candidate, theory and labels.  ``keep`` (a dict) receives the samples."""
    alpha = _validate.alpha(alpha)
    samples = DEFAULT_SAMPLES if samples is None else samples
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 100:
        raise UsageError("samples must be an integer >= 100; received samples={!r}".format(samples))
    if seed is not None:
        _validate.seed(seed)
    dtype = getattr(dtype, "name", dtype)  # tf.float32 -> "float32"
    if dtype not in PARITY_DTYPES:
        raise UsageError(
            "dtype must be float32 or float64 for a parity check (float16 and bfloat16 "
            "values are too coarse for tests against a continuous distribution; their "
            "draws are the float32 stream rounded); received dtype={!r}".format(dtype))
    if not pairs:
        raise UsageError("pairs must hold at least one kernel to check; received none")
    for pair in pairs:
        needed = memory_needed(pair["shape"], samples, dtype)
        if needed > MEMORY_BUDGET:
            raise UsageError(
                "kernel {!r}: a parity check of shape={} with samples={} needs about {:.3g} GiB "
                "({} values drawn per side), over the {:.3g} GiB budget (parity.MEMORY_BUDGET); "
                "check a smaller shape or fewer samples".format(
                    pair["kernel"], tuple(pair["shape"]), samples, needed / 2 ** 30,
                    _drawn_values(pair["shape"], samples), MEMORY_BUDGET / 2 ** 30))
    threshold = float(alpha) / (TESTS_PER_KERNEL * max(1, len(pairs)))
    base = seed if seed is not None else int(np.random.randint(SEED_LIMIT))
    pair_seeds = [(base + 7919 * index) % SEED_LIMIT for index in range(len(pairs))]
    jobs = []
    for pair, pair_seed in zip(pairs, pair_seeds):
        shape = pair["shape"]
        repeats = _repeats(shape, samples, pair["theory"])
        for side in ("reference", "candidate"):
            seeds = _seed_stream(pair_seed, side, repeats + 1)
            seeded = _seeded(pair[side])
            jobs.append({"obj": pair[side], "seed": seeds[0], "seeds": seeds[1:], "seeded": seeded,
                         "makers": _makers(pair[side], shape, repeats, seeds[1:], dtype, seeded)})
    drawn: List[Any] = [None] * len(jobs)  # each job's raw arrays, once drawn

    def test(index: int) -> KernelReport:
        pair = pairs[index]
        pair_seed, shape, kernel = pair_seeds[index], pair["shape"], pair["kernel"]
        theory = pair["theory"]
        ref = _sample(drawn[2 * index], samples, pair_seed, shape, pair["labels"][0], kernel, dtype)
        cand = _sample(drawn[2 * index + 1], samples, pair_seed + 1, shape, pair["labels"][1], kernel,
                       dtype)
        checks = []
        if theory.distribution == "orthogonal":
            # Not a property of the entries: of each whole draw.
            for side, arrays in (("reference", drawn[2 * index]), ("candidate", drawn[2 * index + 1])):
                worst, tolerance = orthogonality(arrays, theory)
                checks.append(TestResult("orthogonality_" + side, worst,
                                         1.0 if worst <= tolerance else 0.0, threshold))
        drawn[2 * index] = drawn[2 * index + 1] = None  # free the raw draws early
        if keep is not None:
            keep[str(index)] = (ref, cand, theory)
        report = test_kernel(pair["kernel"], pair["shape"], ref, cand, theory,
                             pair["labels"], threshold, checks)
        report.reference_initializer = describe_object(pair["reference"])
        report.candidate_initializer = describe_object(pair["candidate"])
        return report

    # A kernel is tested as soon as both of its sides are drawn, while the
    # rest are still being drawn.  Sorting and the KS tests run in numpy/scipy
    # code that releases the GIL, so the tests use the cores the draws leave.
    workers = min(len(pairs), os.cpu_count() or 1)
    futures: List[Any] = [None] * len(pairs)
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:

        def ready(job: int, arrays: List[Any]) -> None:
            with lock:  # the two sides may arrive from two threads at once
                drawn[job] = arrays
                both = drawn[job ^ 1] is not None
            if both:
                futures[job // 2] = pool.submit(test, job // 2)
                if progress is not None:  # tqdm's update takes its own lock
                    futures[job // 2].add_done_callback(lambda _: progress(1))

        draw_all(jobs, base, ready)
        kernels = [future.result() for future in futures]  # the kernels' order
    return ParityReport(kernels=kernels, alpha=float(alpha), seed=seed, samples=samples,
                        threshold=threshold)
