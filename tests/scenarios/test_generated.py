"""Generated busy-source scenarios, each in every mode, judged against the emulator's ground truth.

``make test`` runs ``STITCH_SCENARIOS`` seeds (default 200) in blocking, deferrable and sensor modes;
``make soak`` runs thousands. A failing run prints a one-line command that replays it alone:
``STITCH_SCENARIO=<seed>:<mode> .venv/bin/pytest tests/scenarios -q``.
"""

from __future__ import annotations

import collections
import json
import os
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import WORKERS
from generator import MODES, generate
from judge import violations
from runner import Run, ScenarioRunner

COUNT = int(os.environ.get("STITCH_SCENARIOS", "200"))
FIRST = int(os.environ.get("STITCH_SCENARIO_FIRST_SEED", "0"))
CHUNKS = max(1, min(10, COUNT))


def _selected() -> list[tuple[int, str]] | None:
    only = os.environ.get("STITCH_SCENARIO")
    if not only:
        return None
    seed, _, mode = only.partition(":")
    return [(int(seed), m) for m in ((mode,) if mode else MODES)]


def _runs(chunk: int) -> list[tuple[int, str]]:
    selected = _selected()
    if selected is not None:
        return selected if chunk == 0 else []
    seeds = [FIRST + i for i in range(COUNT) if i % CHUNKS == chunk]
    return [(seed, mode) for seed in seeds for mode in MODES]


def _play(emulator: Any, sources: queue.Queue[tuple[int, str]], seed: int, mode: str) -> Run:
    source_id, name = sources.get()
    try:
        return ScenarioRunner(emulator, source_id, name).run(generate(seed), mode)
    finally:
        sources.put((source_id, name))


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_verdicts_match_the_truth(chunk: int, scenario_emulator: Any, scenario_sources: Any) -> None:
    todo = _runs(chunk)
    if not todo:
        pytest.skip("no scenario in this chunk")
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        runs = list(pool.map(lambda job: _play(scenario_emulator, scenario_sources, *job), todo))
    outcomes = collections.Counter(f"{r.mode}:{r.outcome}" for r in runs)
    tags = collections.Counter(t for r in runs for t in r.scenario.tags)
    print(f"\nchunk {chunk}: {len(runs)} runs; outcomes {dict(sorted(outcomes.items()))}; tags {dict(tags)}")
    for run in runs:
        if any(note.startswith("documented attach limit") for note in run.notes):
            print(f"  seed {run.scenario.seed} {run.mode}: {run.notes}")
        if run.outcome in ("unknown", "timeout"):
            print(f"  seed {run.scenario.seed} {run.mode}: {run.outcome}: {run.message[:400]}")
    failures = []
    for run in runs:
        problems = violations(run)
        if problems:
            failures.append(
                f"seed {run.scenario.seed} in {run.mode} mode: {'; '.join(problems)}\n"
                f"  scenario {json.dumps(run.scenario.describe())}\n"
                f"  replay: STITCH_SCENARIO={run.scenario.seed}:{run.mode} .venv/bin/pytest tests/scenarios -q"
            )
    assert not failures, f"{len(failures)} of {len(runs)} runs disagree with the truth:\n" + "\n".join(
        failures
    )
