"""A short run of the benchmark (bench/run.py --smoke): it starts Redis, the floor and the bot under
gunicorn, checks every workload's replies and loads them briefly. No timing is asserted."""
from __future__ import annotations

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
    rows = [line for line in report.read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith("| workload")]
    workloads = {row.split("|")[1].strip(): row.split("|")[-2].strip() for row in rows}
    assert set(workloads) == {"password_text", "password_click", "faq", "safe_password"}
    assert all(errors == "0" for errors in workloads.values())
    assert re.search(r"sent more than once \(should be 0\): 0\.", report.read_text(encoding="utf-8"))
