"""``compat-init convert``: a TF checkpoint's trained tensors into a Keras port (and ``--reverse``, the way back)."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Tuple

from compat_init import _validate
from compat_init._errors import EXIT_FAIL, EXIT_PASS, EXIT_USAGE, UsageError, printable
from compat_init.commands._loading import (
    legacy_builder,
    load_callable,
    proof_options,
    recording_spec,
    require_tensorflow,
)
from compat_init.commands._options import alpha_value, function_options, int_in, option_type, pattern_value
from compat_init.commands._outputs import (
    check_output_path,
    check_stdout,
    emit_report,
    force_option,
    guarded,
    json_text,
    refuse_overwrites,
    run_files,
    write_atomically,
)


def register(commands: Any) -> None:
    """Adds ``compat-init convert`` to the subcommands."""
    parser = commands.add_parser(
        "convert",
        help="load a TF checkpoint's trained tensors into a Keras port and write its weights",
        description="Read a name-based TF1 checkpoint (Saver) or an object-based TF2 checkpoint (tf.train.Checkpoint, "
        "Keras 2 save_weights), pair its keys with the port's weights (with the legacy builder: by its creation "
        "order, as the migration proof does; with --port alone: by names, structure (numbered layers, roles, "
        "synonyms, per-head reshapes) and shapes, --mapping (entries or a rules file) for the rest), load "
        "them and write the port's weights (Keras 3: .weights.h5; Keras 2: .h5 or a TF checkpoint) atomically. "
        "Every key is reported: loaded (into which weight, paired how), skipped (why) or an error. With --migration "
        "the migration proof runs at the trained weights first (forward only, on a batch drawn for the legacy "
        "placeholders' shapes, unless --inputs); nothing is written unless it passes (--no-proof: written unproven, "
        "and said so). "
        "Exit 0: written; 1: the proof found a difference; 2: bad usage or a checkpoint that cannot be used; "
        "3: the proof was inconclusive; 4: internal error. Nothing is written unless the exit code is 0. "
        "--plan prints the pairing table instead (no tensor read, nothing written; exit 0 when every port weight "
        "would be filled, 2 when not) and --emit-mapping writes it as an editable rules file.",
    )
    sides = parser.add_mutually_exclusive_group(required=True)
    sides.add_argument("--migration", nargs=2, metavar=("V1MODULE:BUILD", "V2MODULE:BUILD"),
                       help="the legacy builder and the port's (pairs by the legacy creation order)")
    sides.add_argument("--port", metavar="V2MODULE:BUILD", help="the port's builder alone (pairs by names and shapes)")
    parser.add_argument("--checkpoint", metavar="PATH",
                         help="a checkpoint prefix, its .index, a `checkpoint` state file or its folder")
    parser.add_argument("--out", metavar="PORT.weights.h5",
                         help="where to write the port's weights (with --reverse: the legacy checkpoint prefix); "
                              "under Keras 3, a new folder (a name without an extension) takes a KerasHub model's "
                              "preset (from_preset loads it); required unless --plan")
    parser.add_argument("--plan", action="store_true",
                        help="print the full pairing table (key, shape, port weight, how paired, any reshape; keys "
                             "skipped and why; port weights unfilled) without reading a tensor or writing weights")
    parser.add_argument("--emit-mapping", metavar="RULES.txt",
                        help="with --plan: also write the table as a rules file (one literal rule per pair) to edit "
                             "into patterns and pass back with --mapping")
    parser.add_argument("--reverse", action="store_true",
                         help="the way back (with --migration): the port's weights (--weights, or the builder's) "
                              "written as a name-based checkpoint the legacy program's Saver restores")
    parser.add_argument("--optimizer-state", action="store_true",
                         help="with --migration, --inputs and --optimizer adam|momentum: carry the legacy optimizer's "
                              "slots into the Keras optimizer, prove that --steps more steps (default 5) on both sides "
                              "give the same weights, and write its variables beside --out (OUT.optimizer.npz)")
    parser.add_argument("--dense-gradients", action="store_true",
                         help="with --optimizer-state: dense gradients for the Keras optimizer (Keras 3 applies an "
                              "embedding's sparse gradient otherwise than TF 1's Adam)")
    parser.add_argument("--keep-initial", action="append", metavar="PATTERN",
                        type=option_type("--keep-initial", pattern_value, "a regular expression over whole port "
                                          "weight names"),
                        help="port weights the checkpoint has no source for (a regular expression matching whole "
                             "port weight names, repeatable: Keras' ResNet50 conv biases, which TF-Slim lacks) keep "
                             "the port's own initial values, listed in the report; any other unfilled weight is an "
                             "error")
    parser.add_argument("--no-proof", action="store_true",
                        help="write the port without proving it; by default the migration proof runs at the trained "
                             "weights whenever a legacy side is at hand (--migration, or with --port the .meta graph "
                             "beside the checkpoint), forward only on a batch drawn for the legacy placeholders' "
                             "shapes unless --inputs, and nothing is written unless it passes; a line says it was "
                             "not proven")
    parser.add_argument("--weights", metavar="PORT.weights.h5",
                         help="with --reverse: a weights file the port's load_weights reads first")
    function_options(parser)
    parser.add_argument("--seed", type=option_type("--seed", int_in(0, _validate.SEED_MAX),
                                                     "an integer in [0, 2**31 - 3]"),
                         default=0, help="seed of the builds and of a drawn input batch (default 0)")
    parser.add_argument("--alpha", type=option_type("--alpha", alpha_value, "a number in (0, 1)"), default=1e-4,
                         help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="PATH|-", help="write the conversion report as JSON (- for stdout)")
    parser.add_argument("--quiet", action="store_true", help="no report, only errors")
    force_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``convert``: exit 0 written; 1 / 3 the proof at the trained weights
    failed / was inconclusive (nothing written); 2 bad usage; 4 internal."""
    proof_only = _proof_only(args)
    if args.reverse:
        if not args.migration or args.checkpoint:
            raise UsageError("--reverse needs --migration (the legacy builder names the keys) and no --checkpoint "
                             "(it writes one: --out); received {}".format(
                                 "--port" if args.port else "--checkpoint={}".format(args.checkpoint)))
    elif not args.checkpoint:
        raise UsageError("convert needs --checkpoint PATH (or --reverse); received none")
    elif args.weights:
        raise UsageError("--weights applies only with --reverse; received --weights={}".format(args.weights))
    if args.optimizer_state and not (args.migration and args.inputs and args.optimizer in ("adam", "momentum")):
        raise UsageError("--optimizer-state needs --migration, --inputs and --optimizer adam or momentum (the legacy "
                         "optimizer); received --optimizer={}{}{}".format(
                             args.optimizer, "" if args.migration else " without --migration",
                             "" if args.inputs else " without --inputs"))
    if args.no_proof and (args.reverse or args.plan or args.optimizer_state or proof_only):
        raise UsageError("--no-proof applies to a conversion that would prove (--migration without --reverse, --plan "
                         "or --optimizer-state, and no proof options); received --no-proof with {}".format(
                             "--reverse" if args.reverse else "--plan" if args.plan else "--optimizer-state"
                             if args.optimizer_state else " ".join(proof_only)))
    if args.keep_initial and (args.reverse or args.optimizer_state):
        raise UsageError("--keep-initial applies to a conversion into the port (not with --reverse or "
                         "--optimizer-state); received --keep-initial={} with {}".format(
                             args.keep_initial[0], "--reverse" if args.reverse else "--optimizer-state"))
    if args.dense_gradients and not args.optimizer_state:
        raise UsageError("--dense-gradients applies only with --optimizer-state; received --dense-gradients")
    if args.steps and not args.inputs and not (args.migration and recording_spec(args.migration[0])):
        raise UsageError("--steps needs --inputs (both models train on that batch); received --steps={}".format(
            args.steps))
    if args.emit_mapping and not args.plan:
        raise UsageError("--emit-mapping applies only with --plan; received --emit-mapping={}".format(
            args.emit_mapping))
    if args.plan:
        return _plan(args)
    if not args.out:
        raise UsageError("convert needs --out PATH (where to write the port's weights), or --plan; received neither")
    if args.reverse or "." in os.path.basename(args.out):  # a name without an extension may be a preset folder:
        check_output_path(args.out, "--out")                # checkpoint.check_output decides, knowing the Keras
    if args.json and args.json != "-":
        check_output_path(args.json, "--json")
    if args.weights and not os.path.exists(args.weights) and not os.path.exists(args.weights + ".index"):
        raise UsageError("--weights must be an existing weights file or checkpoint; received --weights={}".format(
            args.weights))
    checkpoint, old, new, options = _sides(args)

    def work() -> Any:
        if args.reverse:
            assert old is not None  # --reverse needs --migration (checked above)
            return checkpoint.reverse(new, old, args.out, weights=args.weights, mapping=options["mapping"],
                                      inputs=options["inputs"], seed=args.seed), EXIT_PASS
        try:
            model, report = checkpoint.convert(
                args.checkpoint, new, old, mapping=options["mapping"], inputs=options["inputs"], seed=args.seed,
                input_map=options["input_map"], keep_initial=args.keep_initial,
                prove=not args.no_proof and not args.optimizer_state, outputs=_outputs_named(args),
                proof_options={k: v for k, v in options.items() if k not in _CONVERT_OWN},
                allow_io_ops=args.allow_io_ops)
        except checkpoint.ConversionRefused as refused:
            return refused.report, refused.exit_code
        state = None
        if args.optimizer_state:
            assert old is not None  # --optimizer-state needs --migration (checked above)
            # The resumed training below proves it, not the forward proof.
            report.notes = [n for n in report.notes if not n.startswith(_NOT_PROVEN_START)]
            state, steps, notes = checkpoint.resume(
                args.checkpoint, old, new, inputs=options["inputs"], optimizer=args.optimizer,
                learning_rate=args.learning_rate, steps=args.steps or 5, loss=args.loss, from_logits=args.from_logits,
                seed=args.seed, mapping=options["mapping"], dense_gradients=args.dense_gradients)
            report.notes += notes
            for s in steps:
                report.notes.append("resumed step {}: loss legacy {:.6g} port {:.6g}; largest weight diff {:.3g} ({}), "
                                    "allowed {:.3g}: {}".format(s["step"], s["loss_v1"], s["loss_v2"],
                                                                s["max_weight_diff"], s["weight"], s["tolerance"],
                                                                "agree" if s["passed"] else "DIFFER"))
            for entry in report.entries:  # the slots this state carried
                if entry.status == "skipped" and entry.kind == "optimizer state":
                    entry.status, entry.weight, entry.how, entry.reason = (
                        "loaded", "the Keras {} optimizer's state".format(type(state).__name__), "optimizer state", "")
            if not all(s["passed"] for s in steps):
                return report, EXIT_FAIL
        return _write_all(args, checkpoint, model, state, report), EXIT_PASS

    if args.json == "-":
        check_stdout()
    report, code = guarded(args, work)
    for note in getattr(report, "notes", []):
        if note.startswith(_NOT_PROVEN_START):
            print("compat-init: " + printable(note), file=sys.stderr)
    emit_report(args, report, json_written=code == 0 and not args.reverse)
    if code:
        found = ", ".join(getattr(report, "outputs", None) or [])
        print(printable("compat-init: nothing written: the {} {}{}".format(
            "resumed training" if args.optimizer_state else "migration proof at the trained weights",
            "found a difference" if code == 1 else "was inconclusive",
            " (compared with the legacy outputs found in the graph's dataflow, {}: if the port's outputs are other "
            "tensors, name them with --outputs)".format(found) if found else "")), file=sys.stderr)
    return code


#: How the library's note on a conversion not proven starts (the command prints it on stderr too).
_NOT_PROVEN_START = "not proven: "
#: The conversion's own arguments among the proof options (the rest go to the proof).
_CONVERT_OWN = ("mapping", "inputs", "seed", "input_map", "keep_initial")


def _outputs_named(args: argparse.Namespace) -> Any:
    """--outputs as the list of the .meta graph's tensors (with --port), else None."""
    if args.migration or not args.outputs:
        return None
    return [o.strip() for o in args.outputs.split(",") if o.strip()]


def _write_all(args: argparse.Namespace, checkpoint: Any, model: Any, state: Any, report: Any) -> Any:
    """The weights, the optimizer state and the JSON report, all or none:
    the state and the report are staged beside their targets first, the
    weights written (atomically), then the staged files renamed into place;
    a failure at any point removes what was staged."""
    import numpy as np

    from compat_init._files import committing, stage

    def write_state(temporary: str) -> None:
        with open(temporary, "wb") as f:
            np.savez(f, *[np.asarray(v) for v in state.variables])

    staged = []  # (temporary, target)
    try:
        if state is not None:
            state_path = args.out + ".optimizer.npz"
            staged.append((stage(state_path, write_state), state_path))
            report.notes.append("optimizer state ({} variables, {} order) written to {}".format(
                len(state.variables), type(state).__name__, state_path))
        report.written = args.out.rstrip("/" + os.sep) if checkpoint.is_preset_path(args.out) else args.out
        if args.json and args.json != "-":
            text = json_text(report)

            def write_json(temporary: str) -> None:
                with open(temporary, "w") as f:
                    f.write(text)

            staged.append((stage(args.json, write_json), args.json))
        with committing():  # SIGTERM from here on: the run ends whole (all or nothing)
            report.written = checkpoint.save(model, args.out, option="--out")
            for temporary, target in staged:
                os.replace(temporary.path, target)
    except OSError as error:  # a full disk while staging: one line, nothing written
        raise UsageError("cannot write the outputs: {}; nothing written".format(error)) from None
    finally:
        for temporary, _ in staged:  # what is left of them (nothing, once renamed into place)
            temporary.close()
    return report


def _sides(args: argparse.Namespace) -> Tuple[Any, Any, Any, dict]:
    """After the checks that need no import: TensorFlow, the checkpoint
    module, the --out check of this Keras, the legacy and port builders
    (loaded, not called), the refusal of outputs that would replace inputs,
    and the proof's options; all before any work."""
    require_tensorflow()
    try:
        from compat_init import checkpoint
    except ImportError as error:
        raise UsageError("compat-init convert needs scipy: pip install \"compat-init[parity]\" ({})".format(error))
    if args.out and not args.reverse and not args.plan:
        checkpoint.check_output(args.out, option="--out")
    new = load_callable(args.migration[1] if args.migration else args.port,
                        "--migration" if args.migration else "--port", port=True)
    old = legacy_builder(args, args.migration[0], "--migration") if args.migration else None
    if not args.migration:
        _check_beside(args, checkpoint)
    _refuse_overwrites(args, checkpoint, [b for b in (old, new) if b is not None])
    options = proof_options(args)
    options["keep_initial"] = args.keep_initial
    if old is not None and not callable(old):  # a recording
        for option, given in (("--reverse", args.reverse), ("--optimizer-state", args.optimizer_state)):
            if given:
                raise UsageError("{} runs the legacy graph itself, which a recording does not hold: pass the legacy "
                                 "builder (module:function) or its .meta graph; received {} {}".format(
                                     option, option, args.migration[0]))
        if options["inputs"] is None and old.manifest["inputs"]:  # the port is built and proven on its batch
            options["inputs"] = {i["name"]: old.arrays[i["array"]] for i in old.manifest["inputs"]}
    return checkpoint, old, new, options


def _proof_only(args: argparse.Namespace) -> list:
    """The options given that only a proof reads."""
    return [o for o, given in (("--steps", args.steps), ("--placeholders", args.placeholders), ("--feed", args.feed),
                               ("--from-logits", args.from_logits), ("--outputs", args.outputs),
                               ("--forward-only", args.forward_only), ("--training-arg", args.training_arg)) if given]


def _check_beside(args: argparse.Namespace, checkpoint: Any) -> None:
    """With --port: the options only a proof reads need the graph a ``Saver``
    wrote beside the checkpoint (``PREFIX.meta``, the legacy side
    ``checkpoint.convert`` takes) and --outputs naming its tensors."""
    proof_only = _proof_only(args)
    meta = None
    if args.checkpoint and not args.reverse:
        meta = checkpoint.resolve(args.checkpoint) + ".meta"
        meta = meta if os.path.isfile(meta) else None
    if proof_only and (meta is None or not args.outputs):
        raise UsageError("{} apply only to a proof: with --migration, or with --port and --outputs naming the "
                         "outputs of the checkpoint's .meta graph ({}); received {}".format(
                             "/".join(proof_only), "found: " + meta if meta else "none beside the checkpoint",
                             " ".join(proof_only)))


def _refuse_overwrites(args: argparse.Namespace, checkpoint: Any, builders: list) -> None:
    """Nothing the run writes (--out and the files beside it, --json, the
    optimizer state) replaces a file it reads (the checkpoint's files, its
    ``.meta`` graph among them, --weights, --mapping, --inputs, the builders'
    modules), or another output: one line, exit 2, before any work."""
    inputs, owned = run_files(args, builders, checkpoint)
    if args.weights:
        # A file (a FIFO too: refused as not regular, never opened), else a checkpoint prefix.
        weights = args.weights if os.path.lexists(args.weights) and not os.path.isdir(args.weights) else \
            checkpoint.files_of(args.weights)
        inputs.append(("--weights", [weights] if isinstance(weights, str) else weights))
    outputs = []
    if args.out:
        writes_prefix = args.reverse or not args.out.endswith(".h5")
        outputs.append(("--out", args.out, checkpoint.prefix_files(args.out) if writes_prefix else [args.out]))
    if getattr(args, "emit_mapping", None):
        outputs.append(("--emit-mapping", args.emit_mapping, [args.emit_mapping]))
    if args.optimizer_state:
        outputs.append(("--out", args.out, [args.out + ".optimizer.npz"]))
    if args.json and args.json != "-":
        outputs.append(("--json", args.json, [args.json]))
    refuse_overwrites(outputs, inputs, owned, args.force)


def _plan(args: argparse.Namespace) -> int:
    """``convert --plan``: the pairing table; exit 0 when every port weight
    would be filled, 2 when not (the conversion would stop there)."""
    if args.reverse or args.optimizer_state or args.inputs and args.steps:
        raise UsageError("--plan prints the pairing of a conversion: it takes no --reverse, --optimizer-state or "
                         "--steps; received {}".format("--reverse" if args.reverse else "--optimizer-state"
                                                       if args.optimizer_state else "--steps"))
    if not args.checkpoint:
        raise UsageError("--plan needs --checkpoint PATH (the keys to pair); received none")
    if args.emit_mapping:
        check_output_path(args.emit_mapping, "--emit-mapping")
    if args.json and args.json != "-":
        check_output_path(args.json, "--json")
    checkpoint, old, new, options = _sides(args)
    report = guarded(args, lambda: checkpoint.plan(args.checkpoint, new, old, mapping=options["mapping"],
                                                   inputs=options["inputs"], seed=args.seed,
                                                   input_map=options["input_map"], keep_initial=args.keep_initial,
                                                   outputs=_outputs_named(args), allow_io_ops=args.allow_io_ops))
    stream = emit_report(args, report)
    if args.emit_mapping:
        from compat_init.port import format_rules

        rows = [(e.key, e.weight, _rule_options(e)) for e in report.entries if e.status == "loaded"]
        write_atomically(args.emit_mapping, format_rules(rows))
        print(printable("rules written to {} ({} rules)".format(args.emit_mapping, len(rows))), file=stream)
    if report.missing:
        print("compat-init: error: the plan leaves {} port weight(s) unfilled (listed above as MISSING): a conversion "
              "would stop; pass --mapping entries or a rules file for them".format(len(report.missing)),
              file=sys.stderr)
        return EXIT_USAGE
    return EXIT_PASS


def _rule_options(entry: Any) -> str:
    """A loaded entry's split or concat, transpose and reshape as a rule's
    options (``split(2,3,0) transpose(1,0) reshape``)."""
    options = []
    if entry.split:
        options.append("split({},{},{})".format(*entry.split))
    if entry.concat:
        options.append("concat({},{},{})".format(*entry.concat))
    if entry.transpose:
        options.append("transpose({})".format(",".join(map(str, entry.transpose))))
    if entry.reshaped:
        options.append("reshape")
    return " ".join(options)
