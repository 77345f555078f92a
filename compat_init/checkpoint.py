"""Checkpoints into the port: a legacy (or TF2) checkpoint's trained tensors
loaded into a Keras port, every key accounted for.

    from compat_init import checkpoint
    model, report = checkpoint.convert("train/model.ckpt-1000", build_port)
    print(report)                          # every key: loaded into, skipped (why), or an error
    checkpoint.save(model, "port.weights.h5")
    checkpoint.reverse(build_port, build_legacy, "legacy/model.ckpt", weights="port.weights.h5")  # and back

Pairing is the migration proof's (``compat_init.port.pair``): with the legacy
builder by its creation order, else by names and shapes, ``mapping`` for the
rest.  See ``compat_init.port._checkpoint`` for the formats.
"""
from __future__ import annotations

from compat_init.port._checkpoint import (
    Checkpoint,
    CheckpointError,
    ConversionReport,
    Entry,
    check_output,
    convert,
    files_of,
    plan,
    prefix_files,
    read,
    resolve,
    reverse,
    save,
)

__all__ = ["convert", "plan", "reverse", "read", "resolve", "save", "check_output", "files_of", "prefix_files",
           "Checkpoint", "ConversionReport", "Entry", "CheckpointError"]
