"""Ctrl-C during ``make demo`` stops everything the demo started: no process of its stack is left.

The demo runs as ``make demo`` runs it, in a process group of its own that gets the SIGINT a terminal
sends on Ctrl-C, while its replication task waits in the triggerer (worker, triggerer and trigger
runner processes all alive). ``dbt`` is never reached, so any executable stands in for it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow_stack import processes_mentioning, session_members

pytestmark = pytest.mark.deployment

REPO = Path(__file__).resolve().parents[2]


def test_ctrl_c_stops_every_process_of_the_demo(tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    output = tmp_path / "demo.out"
    with output.open("wb") as out:
        demo = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "demo" / "run_demo.py"),
                "--work-dir",
                str(work_dir),
                "--dbt",
                "/bin/true",
                # A job of minutes (speed 0.1: its extraction alone takes about 80 s), so the demo is
                # still waiting when the SIGINT comes however slow the machine: at speed 1, one loaded
                # CI run found the demo already ended when it sent the SIGINT.
                "--speed",
                "0.1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        # Deferred, and the trigger running in the triggerer: it logged the job's first progress line.
        while not re.search(r"replicate_shop_db: \w+ -> deferred", text := output.read_text()) or (
            "extracting" not in text
        ):
            assert demo.poll() is None, text
            assert time.monotonic() < deadline, text
            time.sleep(0.3)
        state = json.loads((work_dir / "stack.json").read_text())
        root = state["root"]
        sessions = [int(s["pid"]) for s in state["sessions"].values()]
        assert len(sessions) == 5, state  # the emulator and Airflow's four components
        running = {pid for sid in sessions for pid in session_members(sid)}
        assert len(running) >= 6, f"expected the whole stack up, with its children; found {running}"

        os.killpg(demo.pid, signal.SIGINT)
        returncode = demo.wait(timeout=90)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()

    text = output.read_text()
    assert returncode == 130, text
    assert "demo interrupted" in text
    assert [pid for sid in sessions for pid in session_members(sid)] == [], text
    assert processes_mentioning(root) == [], text
    assert not Path(root).exists()
    assert not (work_dir / "stack.json").exists()
