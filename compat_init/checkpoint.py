"""Checkpoints into the port: a legacy (or TF2) checkpoint's trained tensors
loaded into a Keras port, every key accounted for.

    from compat_init import checkpoint
    model, report = checkpoint.convert("train/model.ckpt-1000", build_port)
    print(report)                          # every key: loaded into, skipped (why), or an error
    checkpoint.save(model, "port.weights.h5")
    checkpoint.reverse(build_port, build_legacy, "legacy/model.ckpt", weights="port.weights.h5")  # and back

Pairing is the migration proof's (``compat_init.port.pair``): with a legacy
side (the builder given, or the graph a ``Saver`` wrote beside the checkpoint)
by the dataflow of both graphs, else by names, structure and shapes,
``mapping`` for the rest.  With a legacy side, ``convert`` proves the port at
the trained weights before handing it back (``ConversionRefused`` where it
differs; ``prove=False`` skips it, said in the report).  The formats read are
listed in ``compat_init.port._files.reading``; ``resume`` continues the legacy
training run with its optimizer's state.
"""
from __future__ import annotations

from compat_init.port._conversion import ConversionRefused, convert, plan
from compat_init.port._convert import ConversionReport, Entry, reverse
from compat_init.port._files.reading import Checkpoint, CheckpointError, files_of, read, resolve
from compat_init.port._files.writing import check_output, is_preset_path, prefix_files, save
from compat_init.port._resume import resume

__all__ = ["convert", "plan", "reverse", "resume", "read", "resolve", "save", "check_output", "is_preset_path",
           "files_of", "prefix_files", "Checkpoint", "ConversionReport", "Entry", "CheckpointError",
           "ConversionRefused"]
