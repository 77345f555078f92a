"""The choices of the migration proof's run options, in one place: the
library checks arguments against them (``compat_init.port``) and the command
line offers them (argparse ``choices=``).  Pure Python: ``compat-init
--help`` reads them without numpy or TensorFlow."""

LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "mse")
OPTIMIZERS = ("sgd", "momentum", "adam")
#: The precisions a port may compute in (``precision=``): their machine
#: epsilon (``np.finfo(dtype).eps``, written out).
PRECISIONS = {"float32": 2.0 ** -23, "float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}
