"""The compatibility table from sweep/results/*.json.

    nox -s sweep            # fills sweep/results/ (long: every TF minor)
    python sweep/table.py   # prints the table (docs/reference/compatibility.md
                            # renders it at build time: mkdocs build)

Each result is one environment of the sweep: the TF minor, the Python, the
Keras that `tf.keras` resolved to, the tests run (golden digests in every
context, dispatch, Keras save/load, the layer conformance table, parity of
every initializer) and their outcome.
"""
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

#: What a row cannot say by itself: a key per note, explained under the table.
LEGEND = {
    "a": "native Keras seeded initializers draw other values before TF 2.10 (stateful ops; on 2.7 - 2.9 "
         "another seeding), so the bit-for-bit comparisons with the leg's own Keras are skipped there; "
         "compat_init gives the 2.10+ values (the golden digests, checked in every context)",
    "b": "orthogonal: this TF's QR is compared with Keras' 2.15+ matrix within 4 ulp of the gain (bit for "
         "bit from 2.15 on); TF 1.15 measured at most 2 ulp",
    "c": "tf.keras is Keras 2.2.4-tf; TF 1.15's own seeded initializers were stateful",
    "d": "no tensorflow-cpu wheel for this minor installs on this Python from the registry here",
}


def _key(result):
    major, minor = (int(x) for x in result["tf_minor"].split("."))
    return major, minor, result["python"]


def _note(result):
    major, minor = (int(x) for x in result["tf_minor"].split("."))
    if result.get("status") == "does not install here":
        return "d"
    keys = []
    if major == 1:
        keys += ["c", "b"]
    else:
        if minor < 10:
            keys.append("a")
        if minor < 15:
            keys.append("b")
    notes = ", ".join(keys)
    failures = result.get("failures", [])[:3]
    if failures:
        notes += ("; " if notes else "") + "failed: " + ", ".join(failures)
    return notes


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
    lines.extend("{}: {}.  ".format(key, text) for key, text in sorted(LEGEND.items()))
    lines.append("")
    lines.append("Swept on {} with `nox -s sweep` (then `python sweep/table.py`).".format(
        " to ".join([dates[0], dates[-1]]) if len(dates) > 1 else dates[0]))
    return "\n".join(lines)


def render():
    """The table of every result in sweep/results/ (also the docs' compatibility page)."""
    results = []
    for path in sorted(glob.glob(os.path.join(HERE, "results", "*.json"))):
        with open(path) as f:
            results.append(json.load(f))
    if not results:
        raise SystemExit("sweep/table.py: no results in sweep/results/; run `nox -s sweep` first")
    return table(results), len(results)


def main():
    rendered, count = render()
    print(rendered)
    print("({} sweep rows; the docs' compatibility page renders this table at build time)".format(count),
          file=sys.stderr)


if __name__ == "__main__":
    main()
