"""The command line: cheap --help, `info`, `python -m compat_init`."""
import json
import subprocess
import sys

import pytest

from compat_init import cli
from compat_init import _runtime


def run(*args):
    return subprocess.run([sys.executable] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from compat_init.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('TF_IMPORTED' if 'tensorflow' in sys.modules else 'TF_NOT_IMPORTED')\n"
    )
    result = run("-c", code)
    assert result.returncode == 0, result.stderr
    assert "usage: compat-init" in result.stdout
    assert result.stdout.strip().endswith("TF_NOT_IMPORTED")


def test_import_compat_init_does_not_import_tensorflow():
    result = run("-c", "import sys, compat_init; print('tensorflow' in sys.modules)")
    assert result.stdout.strip() == "False"


def test_module_entry_point_info():
    result = run("-m", "compat_init", "info")
    assert result.returncode == 0, result.stderr
    assert str(_runtime.tf_version()) in result.stdout
    assert _runtime.keras_flavour() in result.stdout


def test_info_json(capsys):
    assert cli.main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tf_version"] == str(_runtime.tf_version())
    assert data["in_tested_range"] is True


def test_no_command_prints_usage_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: compat-init" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error():
    assert cli.main(["frobnicate"]) == 2


def test_emitted_rule_options_come_from_the_entry_not_from_its_text():
    from compat_init.checkpoint import Entry
    from compat_init.commands.convert import _rule_options

    def entry(how, **data):
        return Entry("k", (2, 3), "float32", "loaded", "w", how, **data)

    assert _rule_options(entry("rule r:1 (transpose 1,0)", transpose=(1, 0))) == "transpose(1,0)"
    assert _rule_options(entry("structure (reshape 6->2x3)", reshaped=True)) == "reshape"
    assert _rule_options(entry("structure (transpose 2,0,1; reshape 2x3x4->6x4)", transpose=(2, 0, 1),
                               reshaped=True)) == "transpose(2,0,1) reshape"
    # a rules file whose name reads like an option changes nothing
    assert _rule_options(entry("rule (transpose 9; reshape x).rules:1")) == ""
