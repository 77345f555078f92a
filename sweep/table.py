"""Writes README.md's compatibility table from sweep/results/*.json.

    nox -s sweep            # fills sweep/results/ (long: every TF minor)
    python sweep/table.py   # rewrites the table between the README markers

Each result is one environment of the sweep: the TF minor, the Python, the
Keras that `tf.keras` resolved to, the tests run (golden digests in every
context, dispatch, Keras save/load, the layer conformance table, parity of
every initializer) and their outcome.
"""
import glob
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(os.path.dirname(HERE), "README.md")
BEGIN, END = "<!-- sweep-table:begin -->", "<!-- sweep-table:end -->"

#: What a row cannot say by itself, per TF minor.
NOTES = {
    "1.15": "tf.keras 2.2.4-tf; Keras' seeded values are the TF 2 ones (TF 1.15's were stateful); "
            "orthogonal: QR rounds differently (<= 2 ulp)",
}
PRE_210 = ("native Keras seeded initializers draw other values before TF 2.10 (stateful ops; on 2.7 - 2.9 "
           "another seeding): compat_init gives the 2.10+ values there (checked by the golden digests)")


def _key(result):
    major, minor = (int(x) for x in result["tf_minor"].split("."))
    return major, minor, result["python"]


def _note(result):
    notes = []
    minor = result["tf_minor"]
    if minor in NOTES:
        notes.append(NOTES[minor])
    elif minor.startswith("2.") and int(minor.split(".")[1]) < 10:
        notes.append(PRE_210)
    if minor.startswith("2.") and int(minor.split(".")[1]) < 15:
        notes.append("orthogonal compared within 4 ulp (bit-exact checked from 2.15)")
    if result.get("status") == "does not install here":
        notes.append("no tensorflow-cpu {} wheel installs on Python {} from the registry here".format(
            minor, result["python"].rsplit(".", 1)[0]))
    for failure in result.get("failures", [])[:3]:
        notes.append("failed: " + failure)
    return "; ".join(notes)


def table(results):
    lines = ["| TensorFlow | Python | result | tf.keras resolved to | tests passed / failed / skipped | notes |",
             "|---|---|---|---|---|---|"]
    for r in sorted(results, key=_key):
        info = r.get("info") or {}
        keras = "{} {}".format(info.get("keras_flavour", ""), info.get("keras_version", "")).strip() or "-"
        counts = "-" if r.get("passed") is None else "{} / {} / {}".format(r["passed"], r["failed"], r["skipped"])
        lines.append("| {} ({}) | {} | {} | {} | {} | {} |".format(
            r["tf_minor"], info.get("tf_version", "-"), r["python"].rsplit(".", 1)[0], r.get("status", "?"),
            keras, counts, _note(r)))
    dates = sorted({r.get("date", "") for r in results})
    lines.append("")
    lines.append("Swept on {} with `nox -s sweep` (then `python sweep/table.py`).".format(
        " to ".join([dates[0], dates[-1]]) if len(dates) > 1 else dates[0]))
    return "\n".join(lines)


def main():
    results = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(HERE, "results", "*.json")))]
    if not results:
        raise SystemExit("sweep/table.py: no results in sweep/results/; run `nox -s sweep` first")
    with open(README) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit("sweep/table.py: README.md has no {} ... {} markers".format(BEGIN, END))
    new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda m: BEGIN + "\n" + table(results) + "\n" + END,
                 text, flags=re.S)
    with open(README, "w") as f:
        f.write(new)
    print("README.md: {} sweep rows".format(len(results)))


if __name__ == "__main__":
    main()
