"""Does GPO improve prompts? The demonstration grid: an experiment on tasks where the instruction
decides the score, with a capable offline optimizer.

    python benchmarks/effectiveness.py plan      # size the grid (--dry_run; loads nothing)
    python benchmarks/effectiveness.py run       # start the grid, or resume it (repeat freely)
    python benchmarks/effectiveness.py report    # rebuild table.md / report.md and print them
    python benchmarks/effectiveness.py summary   # the README's tables and figure, all grids
    python benchmarks/effectiveness.py plan --grid=v2   # issue 30's rerun (any command takes it)
    python benchmarks/effectiveness.py run --grid=v2-eval48   # BBH navigate with 48 eval records
    python benchmarks/effectiveness.py run --grid=v2-start    # support_ticket from a one-liner
    python benchmarks/effectiveness.py run --grid=v2-steps8   # support_ticket, 8 steps from Empty

The grid (defaults): presets gpo, gpo+, opro, ape (plus the Empty and CoT prompts that every
experiment scores), seeds 0,1,2, 4 candidates per step, the three custom example tasks in
``examples/`` with 32 eval and 32 test records (support_ticket, date_iso, email_extract) and two
BBH tasks (navigate, boolean_expressions) with 16 eval and 16 test records (``--max_examples``,
``--bbh_max_examples``), batch 8 and 2 epochs (4 steps on the 16 train records of each task;
BBH's train split is cut to its first 16, ``--bbh_train``), scorer SmolLM2-135M, optimizer
Qwen2.5-Coder-1.5B-Instruct, ``--eval_racing=exact`` (same choices as full evaluation, fewer
scorer calls), two cells at a time on 2 Ray workers with one llama.cpp thread per model
(``--workers``, ``--n_threads``: on 2 cores a second thread speeds one model up far less than a
second cell runs beside it; README "Threads").

Two experiments, one per task family, because the scorer's decode limits differ: ``custom``
(answers are a word, a date or an address: ``--custom_max_tokens``, 32) and ``bbh`` (a reasoning
first round of ``--scorer_max_tokens``, 64, and the answer round of 16). Everything goes under
``--out`` (default ``results/effectiveness``, tracked in git so that a grid spread over several
sessions keeps its finished cells): ``data/`` (links to the example task folders and
to the BBH data of ``$GPO_DATA_DIR``), ``cache/`` (the response cache, shared) and the
experiment folders under ``custom/`` and ``bbh/``. ``run`` starts or resumes them in that order
(``experiment.py --resume``), so an interrupted grid continues where it stopped;
``--max_minutes`` stops an invocation cleanly after that long (Ctrl-C semantics: the unfinished
cell resumes from its last step next time), to share the machine in slices. Each invocation of
experiment.py runs under ``flock /tmp/gpo-cpu.lock`` (``--lock=`` for none).

``--grid=v2`` (``GRIDS``) is the rerun on the setting where the instruction decides the score:
the Qwen2.5-Coder-0.5B scorer on both families, presets gpo, gpo+, opro, ape and gepa (GEPA's
budget: the gpo preset's planned train+eval scorer calls), under ``results/effectiveness-v2``;
its summary opens with GPO against GEPA. Its BBH family keeps navigate and boolean_expressions
(sports_understanding, the third task, is cut by the 10-hour rule: ``V2_THIRD_BBH_TASK``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "src" / "optimization" / "experiment.py"
REPORT = REPO / "src" / "optimization" / "report.py"
EXAMPLES = REPO / "examples"
BBH_FOLDER = "BIG-Bench-Hard"
LOCK = "/tmp/gpo-cpu.lock"
CUSTOM_TASKS = ("support_ticket", "date_iso", "email_extract")  # 32 eval / 32 test records each
BBH_TASKS = ("navigate", "boolean_expressions")
README_START = "<!-- effectiveness summary: start (benchmarks/effectiveness.py summary) -->"
README_END = "<!-- effectiveness summary: end -->"


# Named grids: defaults for the flags below (a flag given on the command line still wins).
# ``v1``: the first demonstration, the parser's own defaults (SmolLM2-135M scorer; the 0.5B
# column ran as ``--out results/effectiveness-qwen05 --scorer qwen2.5-coder-0.5b``).
# ``v2``: issue 30's rerun where the instruction decides the score: the Qwen2.5-Coder-0.5B
# scorer on both families and GEPA beside the paper's methods. Its third BBH task would be
# sports_understanding (yes/no answers of one word; whether a sentence is plausible turns on
# one rule, the athlete's sport must match the action, which an instruction can state and a
# 0.5B model can apply, unlike date_understanding's multi-step date arithmetic over six
# options), but the grid is cut to two BBH tasks by the 10-hour rule: sized from the
# 0.5B cells of the first grid, the full grid needed about 12.6 h on 2 workers, without the
# third task about 10.7 h (without gpo+ instead, 11.7 h). Measured on v2's own cells it is
# longer (a custom GEPA cell 68 min, a BBH one 28, GPO 22 and 19): about 30 cell-hours, so it
# runs over several invocations, GPO's and GEPA's cells first (--run_presets, --run_seeds).
# Add the third task back with ``--bbh_tasks`` (every invocation of a grid must then pass it:
# a resume continues the tasks it is given).
V2_THIRD_BBH_TASK = "sports_understanding"
ROUTING_PROMPT = "Route the message to one team: billing, shipping, account or technical."
GRIDS: dict[str, dict[str, object]] = {
    "v1": {},
    "v2": {
        "out": REPO / "results" / "effectiveness-v2",
        "presets": "gpo,gpo+,opro,ape,gepa",
        "scorer": "qwen2.5-coder-0.5b",
        "bbh_tasks": "navigate,boolean_expressions",
        "summarize": "results/effectiveness-v2",
        "figure": REPO / "docs" / "effectiveness-v2-scores.png",
    },
    # Whether a larger eval split makes BBH's eval gains carry to test: GPO on navigate with
    # 48 eval (and 48 test) records instead of 16, the v2 scorer and optimizer.
    "v2-eval48": {
        "out": REPO / "results" / "effectiveness-v2-eval48",
        "presets": "gpo",
        "scorer": "qwen2.5-coder-0.5b",
        "custom_tasks": "",
        "bbh_tasks": "navigate",
        "bbh_max_examples": 48,
        "summarize": "results/effectiveness-v2-eval48",
        "figure": REPO / "docs" / "effectiveness-v2-eval48-scores.png",
    },
    # What a user should do on a new task: the 4-label routing task from a one-line prompt a
    # person would write (v2's own support_ticket cells start from the empty prompt), with and
    # without gpo+'s guards.
    "v2-start": {
        "out": REPO / "results" / "effectiveness-v2-start",
        "presets": "gpo,gpo+",
        "scorer": "qwen2.5-coder-0.5b",
        "custom_tasks": "support_ticket",
        "bbh_tasks": "",
        "custom_initial": ROUTING_PROMPT,
        "summarize": "results/effectiveness-v2-start",
        "figure": REPO / "docs" / "effectiveness-v2-start-scores.png",
    },
    # Whether more steps help on a new task: GPO on the routing task from the Empty prompt with
    # 8 steps (4 epochs of the 16 train records) instead of v2's 4.
    "v2-steps8": {
        "out": REPO / "results" / "effectiveness-v2-steps8",
        "presets": "gpo",
        "scorer": "qwen2.5-coder-0.5b",
        "custom_tasks": "support_ticket",
        "bbh_tasks": "",
        "epochs": 4,
        "summarize": "results/effectiveness-v2-steps8",
        "figure": REPO / "docs" / "effectiveness-v2-steps8-scores.png",
    },
}


def chosen_grid(argv: list[str] | None) -> str:
    """The ``--grid`` of a command line (v1 when absent), read before the other flags so that
    its values become their defaults."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--grid", choices=tuple(GRIDS), default="v1")
    return pre.parse_known_args(argv)[0].grid


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("command", choices=("plan", "run", "report", "summary"))
    p.add_argument(
        "--grid",
        choices=tuple(GRIDS),
        default="v1",
        help="a named grid: its --out, --presets, --scorer, --bbh_tasks, --summarize and "
        "--figure become the defaults (v2: issue 30's rerun with the 0.5B scorer and GEPA)",
    )
    add_grid_args(p)
    add_run_args(p)
    add_summary_args(p)
    p.set_defaults(**GRIDS[chosen_grid(argv)])
    return p.parse_args(argv)


def add_grid_args(p: argparse.ArgumentParser) -> None:
    """What the grid is: its folder, methods, seeds, tasks, models and data sizes."""
    p.add_argument("--out", type=Path, default=REPO / "results" / "effectiveness")
    p.add_argument("--presets", default="gpo,gpo+,opro,ape")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--custom_tasks", default=",".join(CUSTOM_TASKS), help="'' for none")
    p.add_argument("--bbh_tasks", default=",".join(BBH_TASKS), help="'' for none")
    p.add_argument("--scorer", default="smollm2-135m")
    p.add_argument("--optimizer", default="qwen2.5-coder-1.5b")
    p.add_argument("--max_examples", type=int, default=32, help="custom tasks, per split")
    p.add_argument(
        "--bbh_max_examples",
        type=int,
        default=16,
        help="BBH, per split (two scorer rounds of up to 80 tokens per example: a BBH cell "
        "costs about 2.5x a custom one per example)",
    )
    p.add_argument("--bbh_train", type=int, default=16, help="BBH train records (first N)")


def add_run_args(p: argparse.ArgumentParser) -> None:
    """How each cell runs (steps, candidates, token limits, threads) and how the grid runs."""
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--candidates", type=int, default=4)
    p.add_argument("--racing", default="exact", help="--eval_racing (off, exact, statistical)")
    p.add_argument("--scorer_max_tokens", type=int, default=64, help="BBH's first round")
    p.add_argument("--custom_max_tokens", type=int, default=32, help="custom tasks' answers")
    p.add_argument(
        "--custom_initial",
        default="",
        help="custom tasks' initial prompt (default: Empty; BBH keeps the paper's CoT)",
    )
    p.add_argument("--second_round_max_tokens", type=int, default=16)
    p.add_argument("--optimizer_max_tokens", type=int, default=160)
    p.add_argument("--n_threads", type=int, default=1, help="llama.cpp threads per model")
    p.add_argument(
        "--workers", type=int, default=2, help="cells in parallel (Ray workers; 1: no Ray)"
    )
    p.add_argument(
        "--tokens_per_second",
        type=float,
        default=None,
        help="plan: measured scorer throughput of one replica, for the wall-time estimate",
    )
    p.add_argument("--max_minutes", type=float, default=None, help="run: stop cleanly after")
    p.add_argument("--lock", default=LOCK, help="flock file around experiment.py ('' for none)")
    p.add_argument(
        "--run_presets",
        default="",
        help="run: only these methods' cells now (e.g. gpo,gepa: the comparison the README "
        "opens with first); the grid keeps every cell and a later run without it does the rest",
    )
    p.add_argument(
        "--run_seeds",
        default="",
        help="run: only these seeds' cells now (e.g. 0: one seed of every task first); a later "
        "run without it does the rest",
    )


def add_summary_args(p: argparse.ArgumentParser) -> None:
    """The summary command's grids, README block and figure."""
    p.add_argument(
        "--summarize",
        default="results/effectiveness,results/effectiveness-qwen05:date_iso",
        help="summary: the --out folders of the grids to put side by side (custom first); "
        "'folder:task+task' keeps only those tasks of a grid",
    )
    p.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="summary: also put the first tables (with GEPA cells: GPO against GEPA, against "
        "the initial prompt, the cost, the sizes) into this file, between the lines "
        f"{README_START!r} and {README_END!r} (the README's results)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="summary: put every table (--readme takes the first ones) into this file between "
        "the same two lines (docs/results.md)",
    )
    p.add_argument(
        "--figure",
        type=Path,
        default=REPO / "docs" / "effectiveness-scores.png",
        help="summary: where the side-by-side score plot goes",
    )


def data_root(args: argparse.Namespace) -> Path:
    """One data folder for both task families: links to the example tasks, and each BBH task's
    files of ``$GPO_DATA_DIR`` with its train split cut to the first ``--bbh_train`` records (16,
    as the custom tasks: the same number of steps per epoch)."""
    root = args.out / "data"
    root.mkdir(parents=True, exist_ok=True)
    for name in split(args.custom_tasks):
        _link(root / name, EXAMPLES / name)
    if split(args.bbh_tasks):
        shared = os.environ.get("GPO_DATA_DIR", str(REPO.parent / "shared" / "data"))
        source = Path(shared).expanduser().resolve() / BBH_FOLDER
        if not source.is_dir():
            sys.exit(f"error: no BBH data at {source}; set GPO_DATA_DIR")
        for task in split(args.bbh_tasks):
            folder = root / BBH_FOLDER / task
            if not (source / task).is_dir():
                sys.exit(f"error: no BBH task {task!r} in {source}")
            folder.mkdir(parents=True, exist_ok=True)
            for file in (source / task).iterdir():
                if file.name != "train.jsonl":
                    _link(folder / file.name, file)
            lines = (source / task / "train.jsonl").read_text(encoding="utf-8").splitlines()
            train = "".join(line + "\n" for line in lines[: args.bbh_train])
            target = folder / "train.jsonl"
            if not target.exists() or target.read_text(encoding="utf-8") != train:
                tmp = target.with_suffix(".tmp")
                tmp.write_text(train, encoding="utf-8")
                tmp.replace(target)
    return root


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() and link.resolve() != target.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(target.resolve(), target_is_directory=target.is_dir())


def split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@dataclass(frozen=True)
class Family:
    """One experiment of the grid: a task family with its own scorer decode limits."""

    name: str  # also the experiment's subfolder of --out
    dataset: str
    tasks: list[str]
    decode: list[str]
    max_examples: int


def families(args: argparse.Namespace) -> list[Family]:
    """The custom tasks first (the demonstration's main claim), then BBH. A custom task's
    answer is a word, a date or an address, so its scorer stops at ``--custom_max_tokens``;
    BBH's first round reasons (``--scorer_max_tokens``) and its second round gives the answer.

    The custom tasks start from the Empty prompt (``--custom_initial``), so the optimizer
    writes the instruction: started from the paper's "Let's think step by step.", every
    candidate in the first 4 cells was a paraphrase of it ("Let me break down things for you
    step by step."), inside a word budget that shrinks to 10 words, and none named the task."""
    found = []
    if split(args.custom_tasks):
        decode = [
            f"--scorer_max_tokens={args.custom_max_tokens}",
            f"--initial_instruction={args.custom_initial}",
        ]
        found.append(
            Family("custom", "custom", split(args.custom_tasks), decode, args.max_examples)
        )
    if split(args.bbh_tasks):
        decode = [
            f"--scorer_max_tokens={args.scorer_max_tokens}",
            f"--second_round_max_tokens={args.second_round_max_tokens}",
        ]
        found.append(Family("bbh", "bbh", split(args.bbh_tasks), decode, args.bbh_max_examples))
    if not found:
        sys.exit("error: no tasks; give --custom_tasks or --bbh_tasks")
    return found


def grid_flags(args: argparse.Namespace, family: Family) -> list[str]:
    out = args.out / family.name
    return [
        f"--presets={args.presets}",
        f"--seeds={args.seeds}",
        f"--dataset={family.dataset}",
        f"--task_name={','.join(family.tasks)}",
        f"--data_dir={data_root(args)}",
        f"--scorer_llm_name={args.scorer}",
        f"--optimizer_llm_name={args.optimizer}",
        "--embedding_model=all-minilm-l6-v2",
        f"--max_examples={family.max_examples}",
        f"--num_search_epochs={args.epochs}",
        f"--opt_batch_size={args.batch}",
        f"--num_generated_instructions_in_each_step={args.candidates}",
        f"--eval_racing={args.racing}",
        *family.decode,
        f"--optimizer_max_tokens={args.optimizer_max_tokens}",
        f"--n_threads={args.n_threads}",
        f"--workers={args.workers}",
        f"--output_dir={out}",
        f"--cache_dir={args.out / 'cache'}",
    ]


def resume_flags(args: argparse.Namespace, family: Family) -> list[str]:
    """What a resumed experiment takes again from this command: how its cells run (the grid
    itself comes from experiment.json; without these a resume ran the cells one at a time on
    one worker, whatever --workers said) and which of its tasks to continue now
    (``--custom_tasks`` / ``--bbh_tasks``: by default all of them; fewer finish one task
    across every method and seed first) and which methods and seeds (``--run_presets``,
    ``--run_seeds``)."""
    return [
        f"--workers={args.workers}",
        f"--n_threads={args.n_threads}",
        f"--task_name={','.join(family.tasks)}",
        *run_now_flags(args),
    ]


def run_now_flags(args: argparse.Namespace) -> list[str]:
    """experiment.py's --run_presets / --run_seeds: the cells to run now, of a new grid or a
    resumed one."""
    return [
        f"--run_{name}={value}"
        for name, value in (("presets", args.run_presets), ("seeds", args.run_seeds))
        if split(value)
    ]


def experiment_folder(out: Path) -> Path | None:
    if not out.is_dir():
        return None
    found = sorted(p.parent for p in out.glob("EXPERIMENT-*/experiment.json"))
    if len(found) > 1:
        sys.exit(f"error: several experiment folders in {out}; keep one or pass another --out")
    return found[0] if found else None


def locked(command: list[str], lock: str) -> list[str]:
    return ["flock", lock, *command] if lock else command


def run_command(command: list[str], max_minutes: float | None = None) -> int:
    print("$ " + " ".join(command), flush=True)
    # SIGINT back to its default in the child: a shell without job control (nohup ... &, cron)
    # starts background commands with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt, so --max_minutes could not stop the grid.
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = None if max_minutes is None else time.monotonic() + 60 * max_minutes
    while proc.poll() is None:
        if deadline is not None and time.monotonic() > deadline:
            print(f"--max_minutes={max_minutes} reached: stopping (resumable)", flush=True)
            os.killpg(proc.pid, signal.SIGINT)
            deadline = None
        time.sleep(1)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out = args.out.expanduser().resolve()
    grid = families(args)
    if args.command == "plan":
        return plan_grid(args, grid)
    if args.command == "run":
        return run_grid(args, grid)
    if args.command == "summary":
        return summary(args)
    return report_grid(args, grid)


def plan_grid(args: argparse.Namespace, grid: list[Family]) -> int:
    """experiment.py --dry_run for every family of the grid."""
    extra = [f"--scorer_tokens_per_second={args.tokens_per_second}"] * bool(args.tokens_per_second)
    for family in grid:
        command = [sys.executable, str(EXPERIMENT), *grid_flags(args, family), "--dry_run", *extra]
        code = run_command(command)
        if code:
            return code
    return 0


def run_grid(args: argparse.Namespace, grid: list[Family]) -> int:
    """Run (or resume) every family's experiment in turn, within --max_minutes overall."""
    start = time.monotonic()
    for family in grid:
        left = None
        if args.max_minutes is not None:
            left = args.max_minutes - (time.monotonic() - start) / 60
            if left <= 0:
                print(f"--max_minutes={args.max_minutes} reached before {family.name}")
                return 0
        folder = experiment_folder(args.out / family.name)
        if folder is None:
            command = [sys.executable, str(EXPERIMENT), *grid_flags(args, family)]
            command += run_now_flags(args)
        else:
            data_root(args)
            command = [
                sys.executable,
                str(EXPERIMENT),
                f"--resume={folder}",
                *resume_flags(args, family),
            ]
        code = run_command(locked(command, args.lock), left)
        folder = experiment_folder(args.out / family.name)
        print(f"{family.name} experiment folder: {folder} (exit status {code})")
        if code:
            return code
    return 0


def report_grid(args: argparse.Namespace, grid: list[Family]) -> int:
    """Rewrite every family's experiment report and print its table."""
    folders = [(f, experiment_folder(args.out / f.name)) for f in grid]
    if all(folder is None for _, folder in folders):
        sys.exit(f"error: no experiment folder in {args.out}; run the grid first")
    data_root(args)  # the report reads each custom task's task.json (what its prompts are)
    code = 0
    for family, folder in folders:
        if folder is None:
            print(f"## {family.name}: not run yet")
            continue
        code = run_command([sys.executable, str(REPORT), str(folder)]) or code
        print(f"## {family.name}\n")
        print((folder / "table.md").read_text(encoding="utf-8"))
    return code


def summary(args: argparse.Namespace) -> int:
    """Every grid's experiments side by side (custom tasks first, then BBH; within a family, in
    --summarize's order): print the Markdown tables, write them to summary.md beside the first
    grid and the score plot to --figure."""
    sys.path.insert(0, str(REPO / "src"))
    from gpo.errors import GPOError
    from gpo.reports.summary import read_columns, summary_markdown, write_summary_figure

    grids = []  # (--out folder, its tasks or None for all); "path:task,task" names tasks
    for entry in split(args.summarize):
        out, _, tasks = entry.strip().partition(":")
        grids.append(((REPO / out).resolve(), [t for t in tasks.split("+") if t] or None))
    folders, chosen = [], {}
    for family in ("custom", "bbh"):
        for out, tasks in grids:
            folder = experiment_folder(out / family)
            if folder is not None:
                folders.append(folder)
                if tasks:
                    chosen[folder] = tasks
    if not folders:
        sys.exit(f"error: no experiment folder under {args.summarize}; run the grid first")
    for out, _ in grids:
        data_root(argparse.Namespace(**{**vars(args), "out": out}))
    try:
        columns = read_columns(folders, chosen)
    except GPOError as e:
        sys.exit(f"error: {e}")
    text = summary_markdown(columns)
    target = grids[0][0] / "summary.md"
    target.write_text(text, encoding="utf-8")
    write_summary_figure(columns, args.figure)
    if args.readme is not None:
        fill_readme(args.readme, summary_markdown(columns, brief=True))
    if args.results is not None:
        fill_readme(args.results, text)
    print(text)
    print(f"summary: {target}; figure: {args.figure}")
    return 0


def fill_readme(path: Path, text: str) -> None:
    """Replace what stands between the README's two summary marker lines."""
    readme = path.read_text(encoding="utf-8")
    if readme.count(README_START) != 1 or readme.count(README_END) != 1:
        sys.exit(f"error: {path} needs the lines {README_START} and {README_END} once each")
    head, rest = readme.split(README_START)
    _, tail = rest.split(README_END)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(f"{head}{README_START}\n{text}{README_END}{tail}", encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
