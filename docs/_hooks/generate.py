"""MkDocs hook: the pages' generated parts, made at build time from the code.

Markers a page may hold (each replaced by what the code says now, so no copy
can go stale):

* ``<!-- generated: cli -->``: the command-line reference, from the argparse
  parser (``compat_init.cli.main_parser``);
* ``<!-- generated: initializers -->``: the initializer table, from the
  registry (``compat_init._registry``);
* ``<!-- generated: compatibility -->``: the TF-version table, from
  ``sweep/results/`` (``sweep/table.py``);
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
MARKER = re.compile(r"<!-- generated: (\w+) -->")
RUN = re.compile(r"<!-- run: (.+?)(?: \| exit: (\d+))? -->")
#: TensorFlow's own start-up lines (absl, oneDNN, CPU features, CUDA, v1 deprecation notices), not ours.
TF_NOISE = re.compile(r"^(WARNING: All log messages before absl|I0000 |W0000 |E0000 |.*cpu_feature_guard|To enable the "
                      r"following instructions|.*Could not find cuda|WARNING:tensorflow:|Instructions for updating|"
                      r"non-resource variables are not supported)")


def on_page_markdown(markdown, page, config, files):
    if "<!-- run: " in markdown:
        markdown = _run_all(markdown)
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)


# -- the command line -------------------------------------------------------------------------------------------


def _cli():
    sys.path.insert(0, ROOT)
    from compat_init import cli

    parser = cli.main_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = ["Generated from the argparse parser of this version (`compat_init/cli.py`).", ""]
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


GENERATORS = {"cli": _cli, "initializers": _initializers, "compatibility": _compatibility}


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
