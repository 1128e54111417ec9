"""A short run of the benchmark (bench/run.py --smoke): it starts Redis, the floor, the WeRoBot peer (when
werobot is installed) and the bot under gunicorn, checks every workload's replies and loads them briefly.
No timing is asserted."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_smoke_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--loadgen", "python", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (report,) = tmp_path.glob("bench-*-smoke.md")
    text = report.read_text(encoding="utf-8")
    # The first table: one row per workload, CPU per request of floor, WeRoBot and wxbot, errors last.
    table = text.split("| workload |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|") for line in table.splitlines()[2:]]
    workloads = {row[1].strip(): row for row in rows}
    assert set(workloads) == {"password_text", "password_click", "faq", "faq_unique", "safe_password"}
    assert all(row[-2].strip() == "0" for row in rows)
    werobot = importlib.util.find_spec("werobot") is not None
    for name, row in workloads.items():
        peer_cell = row[3].strip()
        if werobot and not name.startswith("faq"):
            assert peer_cell.isdigit(), row
        else:
            assert peer_cell == "—", row
    if not werobot:
        assert "WeRoBot peer skipped" in text
    assert re.search(r"sent more than once \(should be 0\): 0\.", text)
