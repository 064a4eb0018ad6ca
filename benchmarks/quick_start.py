"""The README's quick start, run as written for several seeds: wall time, peak RSS, and the
initial and best prompts with their eval / test scores.

    flock /tmp/gpo-cpu.lock python benchmarks/quick_start.py --seeds 0,1,2,3,4

The command is read from README.md (the block after "## Quick start"), so what is measured is
what a reader runs. Each seed runs in its own process under ``/usr/bin/time -v`` with
``--seed=N --no_cache`` (every reply computed) and a temporary ``--output_dir``; ``--python``
names the interpreter (for example a fresh venv's). Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Measured:
    seed: int
    seconds: float
    peak_rss_gb: float
    best: dict


def readme_command(readme: Path = REPO / "README.md") -> list[str]:
    """The quick start's command: the first ``python src/optimization/main.py`` line after the
    "## Quick start" heading, continuation lines joined."""
    text = readme.read_text(encoding="utf-8")
    section = text[text.index("## Quick start") :]
    start = section.index("python src/optimization/main.py")
    return shlex.split(section[start : section.index("```", start)].replace("\\\n", " "))


def time_v(report: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) from ``/usr/bin/time -v``'s report."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", report)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    if not wall or not rss:
        raise ValueError("no /usr/bin/time -v report")
    seconds = 0.0
    for part in wall.group(1).split(":"):
        seconds = seconds * 60 + float(part)
    return seconds, int(rss.group(1)) / 1024**2


def run_seed(command: list[str], seed: int, python: str, work: Path) -> Measured:
    out = work / f"seed{seed}"
    report = work / f"seed{seed}.time"
    argv = [python, *command[1:], f"--seed={seed}", "--no_cache", f"--output_dir={out}"]
    proc = subprocess.run(
        ["/usr/bin/time", "-v", "-o", str(report), *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        sys.exit(f"seed {seed} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    seconds, rss = time_v(report.read_text())
    [best_file] = out.glob("*/best_prompts.jsonl")
    best = json.loads(best_file.read_text().splitlines()[0])
    return Measured(seed, seconds, rss, best)


def table(rows: list[Measured]) -> str:
    lines = [
        "| seed | time | peak RSS | best prompt | eval | test |",
        "|---|---|---|---|---|---|",
    ]
    for m in rows:
        b = m.best
        prompt = " ".join(b["prompt"].split()).replace("|", "\\|")
        lines.append(
            f'| {m.seed} | {m.seconds / 60:.1f} min | {m.peak_rss_gb:.2f} GB | "{prompt}" | '
            f"{100 * b['eval_score']:.1f} | {100 * b['test_score']:.1f} |"
        )
    first = rows[0].best
    lines.append(
        f'\ninitial prompt "{first["initial_prompt"]}": eval '
        f"{100 * first['initial_eval_score']:.1f}, test {100 * first['initial_test_score']:.1f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--python", default=sys.executable)
    args = p.parse_args(argv)
    command = readme_command()
    print("command:", shlex.join(command), flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpo-quick-start-") as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            rows.append(run_seed(command, seed, args.python, Path(tmp)))
            m = rows[-1]
            print(f"seed {seed}: {m.seconds:.0f} s, {m.peak_rss_gb:.2f} GB", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
