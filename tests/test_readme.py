"""The README's examples run as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _run(block: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(README), "exec"), {})
    return out.getvalue().strip()


def test_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    dev_server = [b for b in blocks if "DevServer" in b]
    codec = [b for b in blocks if "cassflow.protocol" in b]
    assert len(dev_server) == 1
    assert len(codec) == 1
    assert _run(dev_server[0]).startswith("4.1.")
    assert _run(codec[0]) == "SELECT * FROM ks.t"


def test_quickstart_names_exactly_two_setup_commands() -> None:
    quickstart = README.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    (commands,) = re.findall(r"```sh\n(.*?)```", quickstart, re.S)
    assert [line.split()[:2] for line in commands.strip().splitlines()] == [
        ["make", "demo"],
        ["make", "test"],
    ]
