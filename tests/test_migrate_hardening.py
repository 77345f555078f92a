"""`compat-init migrate` against hostile trees (issue 19, rows 4-9): only
regular files are opened, a file edited or deleted during the run is never
overwritten, paths print safely, outputs that fail end with one line, --check
does not pass unparsed legacy code, compat_init's own calls are not reported,
and workers die with their parent."""
import os
import signal
import subprocess
import sys
import time

import pytest

from compat_init import migrate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEGACY = "import tensorflow as tf\nw = tf.glorot_uniform_initializer(seed=1)\n"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def run(*args, cwd, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "compat_init", "migrate"] + list(args), cwd=str(cwd),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def text(stream):
    return stream.decode("utf-8", "backslashreplace")


def test_a_fifo_is_not_opened(tmp_path):
    (tmp_path / "good.py").write_text(LEGACY)
    os.mkfifo(str(tmp_path / "pipe.py"))
    for target in (".", "pipe.py"):
        result = run(target, cwd=tmp_path, timeout=60)  # before: a hang in open()
        assert result.returncode == 0, text(result.stderr)
        assert "pipe.py: skipped: not a regular file (a FIFO); left alone" in text(result.stderr)


def test_a_link_to_a_device_is_not_read(tmp_path):
    os.symlink("/dev/zero", str(tmp_path / "zero.py"))
    result = run("zero.py", cwd=tmp_path, timeout=60)  # before: a MemoryError traceback
    assert result.returncode == 0 and "Traceback" not in text(result.stderr)
    assert "zero.py: skipped: not a regular file (a device); left alone" in text(result.stderr)


def test_max_file_size(tmp_path):
    (tmp_path / "big.py").write_text(LEGACY + "# padding\n" * 100)
    result = run("--max-file-size", "100", ".", cwd=tmp_path)
    assert "big.py: skipped: larger than --max-file-size (" in text(result.stderr)
    assert run("--max-file-size", "0", ".", cwd=tmp_path).returncode == 2


def test_a_nul_byte_file_is_skipped_as_documented(tmp_path):
    (tmp_path / "nul.py").write_bytes(LEGACY.encode() + b"\x00\n")
    result = run("--write", ".", cwd=tmp_path)
    assert "nul.py: skipped: contains a NUL byte (not Python source); left alone" in text(result.stderr)
    assert (tmp_path / "nul.py").read_bytes() == LEGACY.encode() + b"\x00\n"


def _editing_run(action):
    """The real workers, then the user's edit between their read and the write."""
    real = migrate._results

    def results(*args):
        for result, stamp in real(*args):
            action(result.path)
            yield result, stamp
    return results


@pytest.mark.parametrize("action,words", [
    (lambda path: open(path, "a").write("# the user's edit\n"), "changed during the run; left alone: run again"),
    (os.remove, "vanished during the run; left alone"),
], ids=["edited", "deleted"])
def test_a_file_changed_during_the_run_is_never_overwritten(tmp_path, monkeypatch, action, words):
    import io

    path = tmp_path / "model.py"
    path.write_text(LEGACY)
    monkeypatch.setattr(migrate, "_results", _editing_run(action))
    err = io.StringIO()
    code = migrate.run([str(path)], write=True, jobs=1, quiet=True, err=err, out=io.StringIO())
    assert code == 0 and "{}: skipped: {}".format(path, words) in err.getvalue(), err.getvalue()
    if path.exists():
        assert path.read_text() == LEGACY + "# the user's edit\n"  # the edit is kept, nothing rewritten
    assert not [p for p in os.listdir(str(tmp_path)) if p.startswith(".compat-init-")]


@pytest.mark.skipif(IS_ROOT, reason="root reads and writes every folder whatever its mode")
def test_folders_that_cannot_be_read_or_written_are_reported(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.py").write_text(LEGACY)
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    (frozen / "b.py").write_text(LEGACY)
    os.chmod(str(locked), 0)
    os.chmod(str(frozen), 0o555)
    try:
        result = run("--write", ".", cwd=tmp_path)
    finally:
        os.chmod(str(locked), 0o755)
        os.chmod(str(frozen), 0o755)
    err = text(result.stderr)
    assert "locked: skipped: cannot read the folder (Permission denied)" in err
    assert "b.py: skipped: cannot be written (Permission denied); left alone" in err
    assert "Traceback" not in err


def test_paths_that_are_not_utf8_print_safely(tmp_path):
    name = os.fsdecode(b"bad\xff\x01.py")
    with open(os.path.join(str(tmp_path), name), "w") as f:
        f.write(LEGACY)
    result = run(".", cwd=tmp_path, env={"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8:strict"})
    assert result.returncode == 0 and b"Traceback" not in result.stderr, text(result.stderr)
    assert b'--- "a/bad\\xff\\x01.py"' in result.stdout


def test_a_closed_pipe_and_a_full_disk_end_with_one_line(tmp_path):
    for i in range(200):
        (tmp_path / "m{}.py".format(i)).write_text(LEGACY)
    shell = subprocess.run("{} -m compat_init migrate --jobs 1 . | head -1; echo \"code=${{PIPESTATUS[0]}}\"".format(
        sys.executable), shell=True, executable="/bin/bash", cwd=str(tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    ours = [line for line in text(shell.stderr).splitlines() if line.startswith("compat-init")]
    assert ours == ["compat-init: error: the output was closed before the diff was complete (broken pipe); "
                    "nothing was written"], text(shell.stderr)[-2000:]
    assert text(shell.stdout).strip().endswith("code=2") and "Traceback" not in text(shell.stderr)
    if os.path.exists("/dev/full"):
        full = run("--report", "/dev/full", "m0.py", cwd=tmp_path)
        lines = [line for line in text(full.stderr).splitlines() if line.startswith("compat-init")]
        assert full.returncode == 2 and lines == [
            "compat-init: error: --report must be a regular file or a new path; received --report=/dev/full, where "
            "/dev/full is a character device"], text(full.stderr)  # issue 25 row 2: never written into a device


def test_compat_init_calls_are_never_reported(tmp_path):
    (tmp_path / "done.py").write_text("import compat_init\nimport compat_init as ci\n"
                                      "w = compat_init.xavier_initializer(seed=1)\nv = ci.glorot_uniform()\n")
    result = run(".", cwd=tmp_path)
    assert text(result.stderr).splitlines()[-1] == (
        "0 files changed, 0 legacy calls found: 0 rewritten, 0 left alone, 0 not resolved"), text(result.stderr)


def test_workers_die_with_their_parent(tmp_path):
    marker = tmp_path / "tree-for-orphans"
    marker.mkdir()
    for i in range(3000):
        (marker / "m{}.py".format(i)).write_text(LEGACY * 20)
    parent = subprocess.Popen([sys.executable, "-m", "compat_init", "migrate", "--jobs", "2", "--quiet",
                               str(marker)], cwd=str(tmp_path), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    workers = _wait_for_workers(parent, 2)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and _alive(workers):
        time.sleep(0.2)
    assert _alive(workers) == []


def _children():
    """{parent pid: [child pids]} of the running processes (zombies left out)."""
    tree = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/{}/stat".format(pid)) as f:
                fields = f.read().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            tree.setdefault(int(fields[1]), []).append(int(pid))
    return tree


def _descendants(pid):
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _wait_for_workers(parent, count, timeout=60):
    """The parser's worker processes of a running ``migrate`` (children of its
    fork server, which the parent started)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        workers = [pid for pid in _descendants(parent.pid) if _is_worker(pid)]
        if len(workers) >= count:
            return workers
        time.sleep(0.05)
    pytest.fail("the workers did not start")


def _is_worker(pid):
    try:
        with open("/proc/{}/cmdline".format(pid), "rb") as f:
            server = b"forkserver" in f.read()
        with open("/proc/{}/stat".format(pid)) as f:
            ppid = int(f.read().rsplit(") ", 1)[1].split()[1])
        with open("/proc/{}/cmdline".format(ppid), "rb") as f:
            return server and b"forkserver" in f.read()  # forked by the fork server
    except (OSError, IndexError, ValueError):
        return False


def _alive(pids):
    tree = _children()
    living = {pid for children in tree.values() for pid in children}
    return [pid for pid in pids if pid in living]


@pytest.mark.parametrize("before,after", [
    # a form feed at the start of a line, before code
    (b"import tensorflow as tf\n\x0cw = tf.glorot_uniform_initializer(seed=1)\nx = 1\n",
     b"import tensorflow as tf\nimport compat_init\n\n\x0cw = compat_init.glorot_uniform(seed=1)\nx = 1\n"),
    # a form feed before an indented line (Python takes it; libcst does not)
    (b"import tensorflow as tf\nif True:\n\x0c    w = tf.glorot_uniform_initializer(seed=1)\n",
     b"import tensorflow as tf\nimport compat_init\n\nif True:\n\x0c    w = compat_init.glorot_uniform(seed=1)\n"),
    # CR-only line endings, the last one included
    (b"import tensorflow as tf\rw = tf.glorot_uniform_initializer(seed=1)\r",
     b"import tensorflow as tf\rimport compat_init\r\rw = compat_init.glorot_uniform(seed=1)\r"),
], ids=["form-feed-line-start", "form-feed-indent", "cr-only"])
def test_every_byte_outside_the_rewrite_is_kept(tmp_path, before, after):
    path = tmp_path / "m.py"
    path.write_bytes(before)
    result = run("--write", "m.py", cwd=tmp_path)
    assert result.returncode == 0 and "skipped" not in text(result.stderr), text(result.stderr)
    assert path.read_bytes() == after
    compile(after, "m.py", "exec")


# --- row 3: nesting the parser cannot take, workers that die or stall ------------------------------

DEEP = {
    "lists": "x = " + "[" * 3000 + "]" * 3000 + "\n",
    "nots": "x = " + "not " * 20000 + "1\n",
    "sum": "x = " + "+".join(["1"] * 100000) + "\n",
    "attributes": "x = a" + ".b" * 50000 + "\n",
    "literals": "x = (" + " ".join('"a"' for _ in range(3001)) + ")\n",  # issue 25 row 7: was "Syntax Error"
}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_code_nested_too_deep_is_skipped_and_the_run_completes(tmp_path, jobs):
    for name, body in DEEP.items():
        (tmp_path / (name + ".py")).write_text(LEGACY + body)
    (tmp_path / "good.py").write_text(LEGACY)
    result = run("--write", "--jobs", jobs, ".", cwd=tmp_path, timeout=300)  # before: SIGSEGV, or a hang
    err = text(result.stderr)
    assert result.returncode == 0 and "Traceback" not in err, err[-2000:]
    for name in DEEP:
        assert "{}.py: skipped: too deeply nested to parse (".format(name) in err, err[-3000:]
    assert "compat_init.glorot_uniform" in (tmp_path / "good.py").read_text()


@pytest.mark.parametrize("body", [
    "x = " + "(" * 139 + "1" + ")" * 139 + "\n",  # was "maximum recursion depth exceeded" from 139
    "if x == 0:\n    pass\n" + "".join("elif x == {}:\n    pass\n".format(i) for i in range(1, 400)),
    "x = " + "+".join(["1"] * 400) + "\n",
    "x = " + " + ".join("'{}'".format(i) for i in range(400)) + "\n",
    "x = (" + " ".join('"a"' for _ in range(3000)) + ")\n",
], ids=["nested-139", "elif-400", "plus-400", "joined-literals-400", "adjacent-literals-3000"])
def test_valid_deep_code_is_migrated(tmp_path, body):
    try:
        compile(body, "m.py", "exec")  # Python runs it
    except (MemoryError, RecursionError, SyntaxError) as error:
        pytest.skip("this Python cannot compile it either ({})".format(type(error).__name__))
    (tmp_path / "m.py").write_text(LEGACY + body)
    result = run("--write", "m.py", cwd=tmp_path)
    assert result.returncode == 0 and "skipped" not in text(result.stderr), text(result.stderr)
    assert "compat_init.glorot_uniform(seed=1)" in (tmp_path / "m.py").read_text()


def _slow_tree(tmp_path):
    """A file that takes seconds to migrate (20,000 lines, 3,334 calls: about
    30 s on a 2-core machine), then small ones."""
    (tmp_path / "a_slow.py").write_text("import tensorflow as tf\n" + "".join(
        "w{0} = tf.get_variable('w{0}', [3], initializer=tf.glorot_uniform_initializer(seed={0}))\n".format(i)
        if i % 6 == 0 else "x{0} = f({0}) + g(x, y={0})\n".format(i) for i in range(20000)))
    for i in range(4):
        (tmp_path / "b{}.py".format(i)).write_text(LEGACY)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_past_its_time_limit_is_skipped_and_the_run_goes_on(tmp_path, jobs):
    _slow_tree(tmp_path)
    started = time.time()
    result = run("--write", "--check", "--jobs", jobs, "--timeout-per-file", "1", ".", cwd=tmp_path, timeout=120)
    err = text(result.stderr)
    assert ("a_slow.py: skipped: took longer than its time limit (1 s, --timeout-per-file); left alone; it holds "
            "legacy-looking spellings") in err, err
    assert result.returncode == 1 and "Traceback" not in err  # --check: a file with legacy code was not migrated
    assert time.time() - started < 25
    for i in range(4):
        assert "compat_init.glorot_uniform(seed=1)" in (tmp_path / "b{}.py".format(i)).read_text()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_worker_that_dies_costs_its_file_only(tmp_path, jobs):
    _slow_tree(tmp_path)
    parent = subprocess.Popen([sys.executable, "-m", "compat_init", "migrate", "--write", "--jobs", jobs, "."],
                              cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    worker = _wait_for_workers(parent, 1)[0]  # the first file goes to the first worker
    time.sleep(0.5)
    os.kill(worker, signal.SIGKILL)  # as a crash in the parser would end it
    out, err = parent.communicate(timeout=120)  # before (--jobs 2): the pool waited for it forever
    err = text(err)
    assert "a_slow.py: skipped: the parser's worker died (SIGKILL); left alone" in err, err
    assert parent.returncode == 0 and "Traceback" not in err
    for i in range(4):
        assert "compat_init.glorot_uniform(seed=1)" in (tmp_path / "b{}.py".format(i)).read_text()


def test_timeout_per_file_is_checked():
    import io

    with pytest.raises(ValueError, match=r"timeout_per_file must be a number of seconds > 0 or None; "
                                         r"received timeout_per_file=-1"):
        migrate.run(["."], timeout_per_file=-1, err=io.StringIO(), out=io.StringIO())


def test_a_diff_with_non_ascii_lines_on_an_ascii_stdout(tmp_path):
    """Issue 25: PYTHONIOENCODING=ascii and a non-ASCII line was a UnicodeEncodeError traceback."""
    (tmp_path / "m.py").write_bytes(("import tensorflow as tf\n# caf\u00e9 \u2713\n"
                                     "w = tf.glorot_uniform_initializer(seed=1)  # na\u00efve\n").encode("utf-8"))
    result = run("m.py", cwd=tmp_path, env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0 and "Traceback" not in text(result.stderr), text(result.stderr)[-2000:]
    assert "+w = compat_init.glorot_uniform(seed=1)  # na\u00efve\n".encode("utf-8") in result.stdout
