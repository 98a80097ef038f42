"""``cvstudio sweep``: the train command over a grid of settings (core/sweeps.py), trials side by side.

Its own options are parsed here; every other option is a ``train`` option and
is checked by the train parser itself, once for the shared part and once per trial.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import signal

from cvstudio.cli import EXIT_FAILURE, EXIT_OK, _bad_input, _Parser, _positive_int, build_parser

SWEEP_OWNED = ("--out", "--project", "--json", "--json-batches", "--nproc")  # a sweep sets these for each trial itself


def add_sweep_parser(sub) -> argparse.ArgumentParser:
    s = sub.add_parser(
        "sweep", help="train over a grid of settings, trials side by side, recorded in a project",
        description="Takes every `cvstudio train` option, plus the options below. Example: cvstudio sweep "
                    "--model convnet --epochs 5 --set lr=0.01,0.05 --set width=16,32 --project runs/sweep1",
    )
    s.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=v1,v2",
                   help="a setting to vary (repeatable): lr, momentum, width, depth, dropout, weight-decay, l1, "
                        "batch-size, epochs, model, optimizer, augment, schedule, label-smoothing, seed, freeze, "
                        "image-size; batchnorm/amp/nesterov take on,off")
    s.add_argument("--random", type=_positive_int, metavar="N", help="run N combinations drawn from the grid instead of all")
    s.add_argument("--parallel", type=_positive_int, metavar="K",
                   help="trials at once (default: one per GPU, else one single-threaded trial per core)")
    s.add_argument("--project", required=True, metavar="DIR", help="the project that records every trial as a run")
    s.add_argument("--json", action="store_true", help="one JSON object per finished trial, then a summary")
    return s


def parse_sweep(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="cvstudio")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sweep_parser = add_sweep_parser(sub)
    args, train_args = sweep_parser.parse_known_args(argv)
    owned = [a for a in train_args if a.split("=")[0] in SWEEP_OWNED]
    if owned:
        sweep_parser.error(f"{owned[0].split('=')[0]} is set by the sweep for each trial; leave it out")
    if not args.sets:
        sweep_parser.error("give at least one --set NAME=v1,v2,...")
    build_parser().parse_args(["train", *train_args])  # the shared options, checked as `train` checks them
    args.command, args.self_test, args.train_args = "sweep", False, train_args
    return args


def cmd_sweep(args: argparse.Namespace) -> int:
    from cvstudio.core import sweeps

    grid = sweeps.grid_from_sets(args.sets)
    trials = sweeps.plan_trials(grid, args.random, seed=0)
    train_parser = build_parser()
    for settings in trials:  # every trial's options are valid before anything runs
        problem = argument_error(train_parser, ["train", *args.train_args, *sweeps.trial_args(settings)])
        if problem is not None:
            raise _bad_input(f"the trial {sweeps.trial_key(settings)} has an invalid value: {problem}")
    from cvstudio.core.training.devices import gpu_count as count_gpus

    gpu_count = count_gpus()
    parallel = args.parallel or sweeps.auto_parallel(gpu_count=gpu_count)
    if not args.json:
        print(f"sweep: {len(trials)} trials, {min(parallel, len(trials))} at a time, recorded in {args.project}", flush=True)

    def on_trial(trial) -> None:
        if args.json:
            print(json.dumps(sweeps.trial_summary(trial)), flush=True)
        elif trial.status == "failed":
            print(f"trial {sweeps.trial_key(trial.settings)}: failed: {trial.message}", flush=True)
        else:
            print(f"trial {sweeps.trial_key(trial.settings)}: {trial.status}, val acc {trial.val_acc:.4f}, "
                  f"train acc {trial.train_acc:.4f}, {trial.seconds:.0f} s", flush=True)

    from cvstudio.core.control import RunControl

    control = RunControl()
    previous = signal.signal(signal.SIGINT, lambda *_: control.request_stop())
    try:
        record = sweeps.run_sweep(args.train_args, grid, args.project, random_n=args.random, parallel=parallel,
                                  gpu_count=gpu_count, control=control, on_trial=on_trial)
    finally:
        signal.signal(signal.SIGINT, previous)
    best = record.best()
    if args.json:
        print(json.dumps({"event": "done", "sweep": record.id, "trials": [t.to_dict() for t in record.trials],
                          "best": best.to_dict() if best else None}), flush=True)
    elif best is not None:
        print(f"best: {sweeps.trial_key(best.settings)}: val acc {best.val_acc:.4f} ({best.checkpoint})")
    failed = sum(t.status == "failed" for t in record.trials)
    return EXIT_OK if best is not None and not failed else EXIT_FAILURE


def argument_error(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """argparse's one-line message for ``argv``, without printing it; None when ``argv`` parses."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer):
            parser.parse_args(argv)
    except SystemExit:
        lines = buffer.getvalue().strip().splitlines()
        return lines[-1].split("error: ", 1)[-1] if lines else "invalid"
    return None
