"""bench/proxy.py runs end to end (its own dev server and proxy processes) and prints ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "bench" / "proxy.py"


def test_the_proxy_bench_measures_both_paths(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(_PATH), "--requests", "60", "--levels", "1,4", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "proxy/direct req/s" in result.stdout
    figures = json.loads(out.read_text())
    assert {(f["path"], f["operation"], f["in_flight"]) for f in figures} == {
        (path, operation, level)
        for path in ("direct", "proxy")
        for operation in ("insert", "select")
        for level in (1, 4)
    }
    assert all(f["errors"] == 0 and f["requests"] == 60 and f["rate"] > 0 for f in figures)
