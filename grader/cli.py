"""`vaelab labs`, `vaelab demo`, `vaelab pretrain` and `vaelab grade ...`: which function each verb runs, and its options.

The work and the defaults are in each verb's `main()` (vaelab_core.cli.add_verb reads the
defaults from its signature); nothing here restates them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vaelab_core.cli import Option, add_verb


def register_labs(subparsers: argparse._SubParsersAction) -> None:
    from grader.kit import generate_labs

    add_verb(subparsers, "labs", generate_labs.main, "generate the student notebooks (labs/) from solutions/", [
        Option("--solutions", "solutions folder (default: the checkout's)"),
        Option("--labs", "output folder (default: the checkout's labs/)"),
        Option("--check", "only verify that labs/ and the given cells of solutions/ are up to date"),
    ])


def register_demo(subparsers: argparse._SubParsersAction) -> None:
    from grader.kit import demo

    add_verb(subparsers, "demo", demo.main, "run every lab headless on Speakers A and B, show grading end to end", [
        Option("--out", "output folder (one subfolder per lab)"),
        Option("--lab", "run only this lab of solutions/ (e.g. vae_speech; repeat for several)",
               extra={"action": "append"}),
        Option("--speaker-a", "Speaker A dataset (default: the built-in one)"),
        Option("--speaker-b", "Speaker B dataset (default: the built-in one)"),
        Option("--solutions", "solutions/ folder (default: the checkout's)"),
        Option("--timeout", "seconds allowed per notebook cell"),
        Option("--skip-grading", "only run the lab; do not grade the example submissions"),
        Option("--jobs", "notebooks run, and submissions graded, at once (default: one per core)"),
        Option("--grade", "the lab whose examples are graded (default: vae_speech if it runs, else the first --lab)"),
        Option("--full", "grade every example of every lab run (minutes per lab), not three of one lab"),
        Option("--threads", "torch threads per kernel (default: the cores shared out among the kernels at once)"),
    ])


def register_pretrain(subparsers: argparse._SubParsersAction) -> None:
    """`vaelab pretrain` lives here because it needs the reference model, which only the grader
    may load (data_prep never reads solutions/)."""
    from data_prep import pretrain
    from grader.assignment import default_solutions, load_reference

    def with_reference(main, solutions, **values):
        main(model_class=load_reference(solutions or default_solutions()), **values)

    add_verb(subparsers, "pretrain", pretrain.main, "pre-train the reference VAE on a multi-speaker set", [
        Option("--corpus", "multi-speaker DATASET.npz"),
        Option("--out", "output CHECKPOINT (.pt)"),
        Option("--epochs", "most epochs to run"),
        Option("--patience", "stop after this many epochs without a better eval loss"),
        Option("--batch-size", "sequences of 150 frames per batch"),
        Option("--lr", "Adam learning rate"),
        Option("--seed", "seed of the initial weights, the batch order and the samples"),
        Option("--warmup-epochs", "KL weight rises linearly from 0 to 1 over these first epochs"),
        Option("--free-bits", "nats per latent unit below which its KL is not charged in training"),
        Option("--extra-corpus", "another DATASET.npz whose sequences join the training split (e.g. synthetic speech)"),
        Option("--threads", "torch threads (default: torch's; 1 when several run side by side)"),
        Option("--solutions", "solutions/ folder holding the reference notebook (default: the checkout's)",
               parse=Path),
        Option("--force", "replace an existing checkpoint"),
    ], call=with_reference)


def register_grade(subparsers: argparse._SubParsersAction) -> None:
    """`vaelab grade VERB`: the instructor's workflow, one verb per step, on a course directory."""
    from grader.workflow import autograde, bands, export, feedback, init, intake, release, report

    grade = subparsers.add_parser("grade", help="the instructor's workflow: init, release, bands, intake, "
                                                "autograde, feedback, export, report")
    verbs = grade.add_subparsers(title="grade commands", metavar="VERB", required=True)
    on_course = Option("--course", "the course directory")
    add_verb(verbs, "init", init.main, "create a course directory wired to an assignment and its speaker data", [
        Option("course", "the course directory to create"),
        Option("--speaker-a", "the course's Speaker A dataset (default: the built-in one)"),
        Option("--speaker-b", "the course's Speaker B dataset (default: the built-in one)"),
        Option("--solutions", "solutions folder (default: the checkout's)"),
        Option("--assignment", "assignment folder in solutions/", param="assignment_name"),
        Option("--force", "set up an existing course directory again (submissions are kept)"),
    ])
    add_verb(verbs, "release", release.main, "student notebook and bundle; then the grading bands", [
        on_course,
        Option("--skip-bands", "do not compute the grading bands now"),
        Option("--threads", "torch threads of the reference run (default: all cores)"),
    ])
    add_verb(verbs, "bands", bands.main, "run the reference on the course's data: the numeric bands", [
        on_course,
        Option("--threads", "torch threads of the reference run (default: all cores)"),
        Option("--timeout", "seconds allowed per notebook cell"),
    ])
    add_verb(verbs, "intake", intake.main, "validate the students' ZIPs and file them as submissions", [
        Option("zips", "folder of the students' ZIP files"),
        on_course,
        Option("--roster", "CSV of the class (student_id, first_name, last_name, email)"),
    ])
    add_verb(verbs, "autograde", autograde.main, "grade every new submission, N at a time or on a Dask cluster", [
        on_course,
        Option("--jobs", "submissions graded at once by the local pool (each in its own process and kernel)"),
        Option("--force", "grade again submissions already graded"),
        Option("--student", "grade only this student's submission (repeat for several)", extra={"action": "append"}),
        Option("--timeout", "seconds per submission in the local pool before its process is stopped"),
        Option("--cell-timeout", "seconds per notebook cell before it is interrupted"),
        Option("--probe-timeout", "seconds per method in the probe (the notebook's code before them: 4 times that)"),
        Option("--threads", "torch threads per submission (default: the cores shared between the jobs; 1 on a cluster)"),
        Option("--unsafe", "run student code without the sandbox (only where bubblewrap cannot run)"),
        Option("--cold", "start each submission's probe and kernel from a fresh interpreter, not a warm one (slower)"),
        Option("--scheduler", "address of a Dask scheduler (tcp://HOST:8786): its workers grade, not this machine"),
    ])
    add_verb(verbs, "feedback", feedback.main, "HTML feedback per student", [on_course])
    add_verb(verbs, "export", export.main, "grades.csv: one row per student, one column per graded part", [
        on_course,
        Option("--out", "output CSV (default: COURSE/grades.csv)"),
    ])
    add_verb(verbs, "report", report.main, "class report: HTML with figures", [
        on_course,
        Option("--out", "output HTML (default: COURSE/reports/report.html)"),
    ])
