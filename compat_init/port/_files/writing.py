"""The port's weights written whole, or not at all: a Keras 3 ``.weights.h5``
(from views of the weights' buffers), a KerasHub preset folder, a Keras 2
HDF5 file or a TF checkpoint prefix (staged beside it, the index last)."""
from __future__ import annotations

import os
from typing import Any, Callable, List

import numpy as np

from compat_init import _runtime
from compat_init._errors import UsageError
from compat_init._files import Temporary
from compat_init.port._core.text import first_line


def prefix_files(prefix: str) -> List[str]:
    """The files writing a TF checkpoint at ``prefix`` creates (one data
    shard, as ``save_weights`` and a ``Saver`` write); the folder's
    ``checkpoint`` state file is never replaced (``_staged``)."""
    return [prefix, prefix + ".index", prefix + ".data-00000-of-00001"]


def is_preset_path(path: str) -> bool:
    """``--out`` names a KerasHub preset (a new folder) rather than a weights
    file: under Keras 3, a path that ends in ``/`` or whose name has no
    extension."""
    name = os.path.basename(path.rstrip("/" + os.sep))
    return _runtime.keras_flavour() == "keras3" and (path.endswith(("/", os.sep)) or "." not in name)


def check_output(path: str, option: str = "path") -> None:
    """``path`` can take the port's weights in this Keras: Keras 3 writes
    ``.weights.h5`` only, or a KerasHub model's preset into a new folder; in
    an existing, writable folder.  ``option``: the name messages give the
    path (the command line's ``--out``)."""
    folder = os.path.dirname(os.path.abspath(path.rstrip("/" + os.sep)))
    if is_preset_path(path):
        if os.path.lexists(path.rstrip("/" + os.sep)):
            raise UsageError("{0} names a preset folder, which must not exist yet (a preset is written whole, "
                             "never over another); received {0}={1}".format(option, path))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise UsageError("{0} must be in an existing writable folder; received {0}={1}".format(option, path))
        return
    if _runtime.keras_flavour() == "keras3" and not path.endswith(".weights.h5"):
        raise UsageError("{0} must end in .weights.h5 (Keras 3 writes weights only there) or name a new folder "
                         "for a KerasHub model's preset; received {0}={1}".format(option, path))
    if os.path.isdir(path) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError("{0} must be a file path in an existing writable folder; received {0}={1}".format(
            option, path))


def save_preset(model: Any, path: str, option: str = "path") -> str:
    """A KerasHub backbone or task written as a preset folder
    (``save_to_preset``: config, weights, metadata) that
    ``from_preset(path)`` loads: staged in a temporary folder beside
    ``path``, then renamed into place whole."""
    if not hasattr(model, "save_to_preset"):
        raise UsageError("{0} names a folder (a KerasHub preset) but the port is a {1}, which has no "
                         "save_to_preset; name a .weights.h5 file instead; received {0}={2}".format(
                             option, type(model).__name__, path))
    target = path.rstrip("/" + os.sep)
    with Temporary(os.path.dirname(os.path.abspath(target))) as staging:
        model.save_to_preset(staging.path)
        os.rename(staging.path, target)  # fails, rather than merges, if target appeared
    return target


def save(model: Any, path: str, option: str = "path") -> str:
    """Writes the port's weights to ``path`` atomically: a temporary file in
    the same folder, then renamed; no partial file is ever left at ``path``.
    Keras 3: ``.weights.h5``, or a KerasHub model's preset folder
    (``is_preset_path``); Keras 2: ``.h5`` (HDF5) or a TF checkpoint prefix;
    a ``tf.Module``: a ``tf.train.Checkpoint`` prefix.  ``option``: the name
    messages give the path (the command line's ``--out``)."""
    from compat_init._files import NoSpace, check_space, clean_stale

    folder = os.path.dirname(os.path.abspath(path.rstrip("/" + os.sep)))
    clean_stale(folder)  # what a killed run left here
    variables = list(getattr(model, "weights", None) or getattr(model, "variables", None) or [])
    try:
        check_space(folder, sum(int(np.prod(v.shape)) * np.dtype(v.dtype.name if hasattr(v.dtype, "name")
                                                                    else v.dtype).itemsize for v in variables),
                    "writing the port's weights")
        return _save(model, path, option)
    except (UsageError, KeyboardInterrupt):
        raise
    except NoSpace as error:
        raise UsageError("{} {}: not enough space: {}; nothing written".format(option, path, error)) from None
    except Exception as error:  # noqa: BLE001 - a full disk mid-write, a folder gone: the writer's error
        raise UsageError("{} {} cannot be written: {}; nothing written".format(
            option, path, first_line(error, typed=False))) from None


def _save(model: Any, path: str, option: str) -> str:
    tf = _runtime.tf()
    if is_preset_path(path):
        return save_preset(model, path, option)
    folder = os.path.dirname(os.path.abspath(path))
    if path.endswith(".h5") and hasattr(model, "save_weights"):
        with Temporary(folder, ".weights.h5" if path.endswith(".weights.h5") else ".h5") as temporary:
            _save_weights(model, temporary.path)  # Keras writes it anew
            os.replace(temporary.path, path)
        return path
    if hasattr(model, "save_weights"):
        staged(path, model.save_weights)
    else:
        staged(path, tf.train.Checkpoint(model=model).write)
    return path


def _save_weights(model: Any, path: str) -> None:
    """``model.save_weights(path)``; for a Keras 3 ``.weights.h5``, the same
    file written by Keras' own walk of the model with each weight handed to
    h5py as a read-only view of the variable's buffer: Keras' writer converts
    each weight with ``np.array(variable)``, two full copies at its peak
    (``numpy()``, then ``np.array``), which a 2 GiB kernel cannot spare."""
    saving_lib = _runtime.keras3_weights_store() if path.endswith(".weights.h5") else None
    if saving_lib is None or not getattr(model, "built", False):
        model.save_weights(path)
        return
    store = _view_store(saving_lib)(path, mode="w")
    try:
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="",
                               visited_saveables=set())
    finally:
        store.close()


def _view_store(saving_lib: Any) -> type:
    """``saving_lib.H5IOStore`` whose ``store[key] = weight`` writes the weight
    from a view of its buffer (a copy only where no view exists)."""
    from keras import backend  # Keras 3 only: keras3_weights_store() said so

    class _ViewStore(saving_lib.H5IOStore):  # type: ignore[misc, name-defined]
        def __setitem__(self, key: str, value: Any) -> None:
            if self.mode not in ("w", "a"):
                raise ValueError("Setting a value is only allowed in write mode.")
            if not self._h5_entry_initialized:
                self._create_h5_group(self._h5_entry_path)
            array = _buffer_view(value)
            if backend.standardize_dtype(array.dtype) == "bfloat16":
                dataset = self._h5_entry_group.create_dataset(key, data=array)
                dataset.attrs["dtype"] = "bfloat16"
            else:
                self._h5_entry_group[key] = array

    return _ViewStore


def _buffer_view(value: Any) -> np.ndarray:
    """A weight's values without a copy where the backend allows it: a Keras
    variable on the TensorFlow backend is read into a tensor that shares the
    variable's buffer, and numpy views that; on JAX numpy takes the array's
    buffer through DLPack, on PyTorch a CPU tensor's ``numpy()`` shares it.
    A copy (``convert_to_numpy``) only where no view exists (bfloat16, which
    numpy lacks; a tensor off the CPU)."""
    from keras import ops

    native = getattr(value, "value", None)
    tf = _runtime.tf()
    if isinstance(native, tf.Variable):
        return np.asarray(tf.convert_to_tensor(native))
    backend = _runtime.keras_backend()
    try:
        if backend == "jax" and native is not None:
            return np.from_dlpack(native)
        if backend == "torch" and native is not None:
            return np.asarray(native.detach().numpy())
    except (AttributeError, TypeError, RuntimeError, BufferError, ValueError):  # no view of this one: a copy
        pass
    return np.asarray(ops.convert_to_numpy(value))


def staged(path: str, write: Callable[[str], Any]) -> None:
    """A TF checkpoint (several files) written by ``write(prefix)`` in a
    temporary folder beside ``path``, then moved next to it, the index last:
    no partial checkpoint ever stands at ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    with Temporary(folder, directory=True) as temporary:
        staging = temporary.path
        write(os.path.join(staging, os.path.basename(path)))
        for produced in sorted(os.listdir(staging), key=lambda f: f.endswith(".index")):  # the index last
            if produced == "checkpoint" and os.path.lexists(os.path.join(folder, produced)):
                # The folder's state file names the user's own checkpoint: a
                # prefix loads without it, so it is kept as it is.
                continue
            os.replace(os.path.join(staging, produced), os.path.join(folder, produced))
