"""MkDocs hook: the pages' generated parts, made at build time from the code.

Markers a page may hold (each replaced by what the code says now, so no copy
can go stale):

* ``<!-- generated: cli -->``: the command-line reference, from the argparse
  parser (``compat_init.cli.main_parser``);
* ``<!-- generated: usage COMMAND -->``: one subcommand's usage lines, from
  the same parser;
* ``<!-- generated: initializers -->``: the initializer table, from the
  registry (``compat_init._registry``);
* ``<!-- generated: compatibility -->``: the TF-version table, from
  ``sweep/results/`` (``sweep/table.py``);
* ``<!-- generated: layers -->``: the layers of ``compat_init/port/``, from
  the import-linter contracts in ``setup.cfg`` (what CI enforces) and each
  module's docstring;
* ``<!-- run: COMMAND -->`` (optionally ``<!-- run: COMMAND | exit: N -->``):
  the tutorial's commands, run in order in one scratch folder holding a copy of
  ``docs/tutorial/files/``; the block shows the command and its real output.
  A command that ends with another exit code fails the build.
"""
import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = os.path.join(ROOT, "docs", "tutorial", "files")
#: A marker is a line of its own (one quoted in a sentence is left as it is).
MARKER = re.compile(r"^<!-- generated: (\w+)(?: (\w+))? -->$", re.M)
RUN = re.compile(r"^<!-- run: (.+?)(?: \| exit: (\d+))? -->$", re.M)
#: TensorFlow's own start-up lines (absl, oneDNN, CPU features, CUDA, v1 deprecation notices), not ours.
TF_NOISE = re.compile(r"^(WARNING: All log messages before absl|I0000 |W0000 |E0000 |.*cpu_feature_guard|To enable the "
                      r"following instructions|.*Could not find cuda|WARNING:tensorflow:|Instructions for updating|"
                      r"non-resource variables are not supported)")


def on_page_markdown(markdown, page, config, files):
    if RUN.search(markdown):
        markdown = _run_all(markdown)
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](*[g for g in m.groups()[1:] if g]), markdown)


# -- the command line -------------------------------------------------------------------------------------------


def _subcommands():
    os.environ["COLUMNS"] = "100"  # argparse wraps usage lines at the terminal's width: one width here
    sys.path.insert(0, ROOT)
    from compat_init import cli

    parser = cli.main_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, subparsers


def _usage(name):
    _, subparsers = _subcommands()
    return "```text\n{}\n```\n\nEvery option: the [command-line reference](../reference/cli.md#compat-init-{}).".format(
        subparsers.choices[name].format_usage().strip(), name)


def _cli():
    parser, subparsers = _subcommands()
    out = ["Generated from the argparse parser of this version (`compat_init/cli.py`, built from `compat_init/commands/`).", ""]
    out += ["```text", parser.format_usage().strip(), "```", ""]
    for name, sub in subparsers.choices.items():
        out += ["## `compat-init {}`".format(name), "", sub.description or "", ""]
        out += ["```text", sub.format_usage().strip(), "```", ""]
        out += ["| option | value | default | what it does |", "|---|---|---|---|"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            names = ", ".join("`{}`".format(o) for o in action.option_strings) or "`{}`".format(action.metavar
                                                                                               or action.dest)
            if action.nargs == 0:
                value = "-"
            elif action.choices:
                value = " \\| ".join("`{}`".format(c) for c in action.choices)
            else:
                metavar = action.metavar if action.metavar is not None else action.dest.upper()
                value = "`{}`".format(" ".join(metavar) if isinstance(metavar, tuple) else metavar)
            default = "" if action.default in (None, False, argparse.SUPPRESS) else "`{}`".format(action.default)
            text = (action.help or "").replace("|", "\\|")
            if action.required:
                text = "required; " + text
            out.append("| {} | {} | {} | {} |".format(names, value, default, text))
        out.append("")
    return "\n".join(out)


# -- the initializers -------------------------------------------------------------------------------------------


def _initializers():
    sys.path.insert(0, ROOT)
    from compat_init import _registry

    out = ["Generated from the registry (`compat_init/_registry.py`), the one table the factories, the classes, "
           "`theory()`, parity, the command line and the codemod read.", "",
           "| factory | Keras class (v2 parent) | `tf.compat.v1` function (v1 parent) | arguments (Keras' defaults) "
           "| distribution | legacy v1 defaults the codemod writes out | reference |",
           "|---|---|---|---|---|---|---|"]
    for row in _registry.MEMBERS:
        arguments = ", ".join(["{}={!r}".format(k, v) for k, v in row.params] + ["seed=None"])
        legacy = ", ".join("{}={!r}".format(k, v) for k, v in row.v1_defaults) or "-"
        out.append("| `{}` | {} | `{}` | `{}` | {} | {} | {} |".format(
            row.name, ", ".join("`{}`".format(k) for k in row.keras), row.v1, arguments,
            row.formula.replace("|", "\\|"), legacy, row.reference or "-"))
    return "\n".join(out)


# -- the compatibility table ------------------------------------------------------------------------------------


def _compatibility():
    spec = importlib.util.spec_from_file_location("sweep_table", os.path.join(ROOT, "sweep", "table.py"))
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    return table.render()[0]


# -- the initializers' errors ---------------------------------------------------------------------------------

#: (what the user wrote, the code that does it, the fix).  ``init`` is
#: ``ci.glorot_uniform(seed=1)``; each row's message is the one raised now.
ERRORS = [
    ("init((-1, 3))", "init((-1, 3))",
     "shapes hold non-negative integers (a `None` batch dimension is not a kernel's)"),
    ("init((2.5, 3))", "init((2.5, 3))", "pass integers"),
    ("init(5)", "init(5)", "pass a tuple: `init((5,))`"),
    ("glorot_uniform(seed=1.5)", "ci.glorot_uniform(seed=1.5)", "seeds are integers (or None for fresh draws)"),
    ("glorot_uniform(seed=-1)", "ci.glorot_uniform(seed=-1)",
     "use a seed in [0, 2**31 - 3]: outside it Keras 2 and Keras 3 draw different tensors"),
    ("glorot_uniform(api=\"v3\")", "ci.glorot_uniform(api='v3')", "`api` is `\"auto\"`, `\"v1\"` or `\"v2\"`"),
    ("variance_scaling(mode=\"fan_sum\")", "ci.variance_scaling(mode='fan_sum')", "use one of the modes named"),
    ("variance_scaling(distribution=\"gaussian\")", "ci.variance_scaling(distribution='gaussian')",
     "use one of the distributions named"),
    ("variance_scaling(scale=0)", "ci.variance_scaling(scale=0)", "scales are positive and finite"),
    ("init((2, 2), dtype=\"int32\")", "init((2, 2), dtype='int32')",
     "initializers draw floats: create the variable as a float, cast after"),
    ("init((2, 2), dtype=\"floaty\")", "init((2, 2), dtype='floaty')", "name a float dtype"),
    ("init((2, 2), dtype=2)", "init((2, 2), dtype=2)",
     "TF reads enum numbers as dtypes: pass the name (`\"float64\"`)"),
    ("truncated_normal(stddev=0)", "ci.truncated_normal(stddev=0)", "a positive finite stddev"),
    ("random_normal(mean=float(\"inf\"))", "ci.random_normal(mean=float('inf'))", "a finite mean"),
    ("random_uniform(minval=1.0, maxval=0.5)", "ci.random_uniform(minval=1.0, maxval=0.5)",
     "swap them (Keras' order: minval, maxval)"),
    ("orthogonal(gain=0)", "ci.orthogonal(gain=0)", "a non-zero finite gain"),
    ("orthogonal(seed=2)((5,))", "ci.orthogonal(seed=2)((5,))", "orthogonal matrices need rank 2 or more"),
    ("uniform_unit_scaling(factor=-1.0)", "ci.uniform_unit_scaling(factor=-1.0)", "a positive finite factor"),
    ("type(init)(stdev=0.1)", "type(ci.truncated_normal())(stdev=0.1)",
     "the native class's own argument names (`stddev`): the subclasses take exactly what the native takes"),
    ("compute_fans((4, 5), input_axes=[0], output_axes=[2])",
     "ci.compute_fans((4, 5), input_axes=[0], output_axes=[2])",
     "axes index the shape"),
    ("init((2**33, 2**33))", "init((2 ** 33, 2 ** 33))", "no tensor holds that many elements: check the shape"),
    ("variance_scaling(scale=1e80)((4, 4))", "ci.variance_scaling(scale=1e80)((4, 4))",
     "the values would overflow the dtype: smaller arguments or a wider dtype"),
    ("variance_scaling(scale=1e-80)((4, 4))", "ci.variance_scaling(scale=1e-80)((4, 4))",
     "the values would underflow to zero: larger arguments or a wider dtype"),
    ("init((1,) * 255)", "init((1,) * 255)", "TensorFlow's tensors have at most 254 dimensions"),
    ("init((2, 2), partition_info=1)", "init((2, 2), partition_info=1)",
     "let `tf.compat.v1.get_variable` pass `partition_info`"),
    ("glorot_uniform(keras.random.SeedGenerator(1), api=\"v1\")",
     "ci.glorot_uniform(__import__('keras').random.SeedGenerator(1), api='v1')",
     "the v1 path takes integer seeds; use `api=\"v2\"` for a SeedGenerator (Keras 3)"),
]


def _errors():
    sys.path.insert(0, ROOT)
    import compat_init as ci

    out = ["Generated: the build runs each input (TensorFlow {}, `init = ci.glorot_uniform(seed=1)`) and shows the "
           "message it raises now.".format(__import__("tensorflow").__version__), "",
           "| input | error | fix |", "|---|---|---|"]
    for shown, code, fix in ERRORS:
        namespace = {"ci": ci, "init": ci.glorot_uniform(seed=1)}
        try:
            exec(code, namespace)
        except (ValueError, TypeError, MemoryError) as error:
            message = "{}: {}".format(type(error).__name__, error).replace("|", "\\|")
        else:
            raise RuntimeError("docs: the troubleshooting row `{}` raised nothing".format(code))
        out.append("| `{}` | `{}` | {} |".format(shown, message, fix))
    return "\n".join(out)


def _contracts():
    """{container: [layer, ...]} of setup.cfg's import-linter layers
    contracts, each layer a list of independent siblings, top first."""
    import configparser

    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    found = {}
    for section in config.sections():
        if section.startswith("importlinter:contract:") and config[section].get("type") == "layers":
            layers = [[m.strip() for m in line.split("|")] for line in config[section]["layers"].split("\n") if line]
            found[config[section]["containers"].strip()] = layers
    return found


def _summary(path):
    """A module's docstring's first sentence, on one line, and its line count."""
    import ast

    with open(path) as f:
        text = f.read()
    doc = ast.get_docstring(ast.parse(text)) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return first.split(". ")[0].rstrip(".") + ".", text.count("\n")


def _layers():
    contracts = _contracts()
    top = contracts["compat_init.port"]
    folder = os.path.join(ROOT, "compat_init", "port")
    picture, rows = [], ["| layer | module | lines | what it holds |", "|---|---|---:|---|"]
    for level, siblings in zip(range(len(top) - 1, -1, -1), top):
        parts = []
        for name in siblings:
            inner = contracts.get("compat_init.port." + name)
            if inner:  # a folder with an order of its own
                parts.append("{}/ ({})".format(name, " -> ".join(" | ".join(s) for s in inner)))
                modules = [m for layer in inner for m in layer]
            elif os.path.isdir(os.path.join(folder, name)):  # a folder of independent modules
                modules = sorted(f[:-3] for f in os.listdir(os.path.join(folder, name))
                                 if f.endswith(".py") and f != "__init__.py")
                parts.append("{}/ ({})".format(name, " | ".join(modules)))
            else:  # one module
                parts.append(name)
                modules = None
            paths = [(name, os.path.join(folder, name + ".py"))] if modules is None else [
                ("{}/{}".format(name, m), os.path.join(folder, name, m + ".py")) for m in modules]
            for shown, path in paths:
                what, lines = _summary(path)
                rows.append("| L{} | `{}` | {} | {} |".format(level, shown, lines, what.replace("|", "\\|")))
        picture.append("L{}  {}".format(level, "  |  ".join(parts)))
    text = ["Generated from the contracts `lint-imports` checks in CI (`setup.cfg`) and the modules' docstrings. "
            "A module imports only from the layers below its own; `|` joins siblings that never import each other; "
            "inside a folder, `->` points from a module to those it may import.", "",
            "```text", "\n   v\n".join(picture), "```", ""] + rows
    return "\n".join(text)


GENERATORS = {"errors": _errors, "cli": _cli, "usage": _usage, "initializers": _initializers,
              "compatibility": _compatibility, "layers": _layers}


# -- the tutorial's commands ------------------------------------------------------------------------------------


def _run_all(markdown):
    scratch = tempfile.mkdtemp(prefix="compat-init-tutorial-")
    try:
        for name in sorted(os.listdir(FILES)):
            if name.endswith(".py"):
                shutil.copy(os.path.join(FILES, name), scratch)
        return RUN.sub(lambda m: _run(m.group(1), int(m.group(2) or 0), scratch), markdown)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(command, expected, scratch):
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=scratch,
               PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=scratch, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    lines = [line for line in result.stdout.splitlines() if not TF_NOISE.match(line)]
    text = "\n".join(lines).replace(scratch + os.sep, "").replace(scratch, ".")
    if result.returncode != expected:
        raise RuntimeError("docs: the tutorial's `{}` exited {}, not {}:\n{}".format(
            command, result.returncode, expected, text[-3000:]))
    return "```console\n$ {}\n{}\n```\n<small>exit code {}</small>".format(command, text, result.returncode)
