"""The ``cassflow`` command as a user runs it: the installed console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cassflow import __version__
from cassflow.cli import app

runner = CliRunner()


def test_selfcheck_reports_every_version_and_compression() -> None:
    result = runner.invoke(app, ["selfcheck"])
    assert result.exit_code == 0, result.output
    for version in ("v3", "v4", "v5"):
        assert result.output.count(f"│ {version} ") == 2
    assert "FAILED" not in result.output
    assert "all conversations arrived intact" in result.output


def test_version_flag() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"cassflow {__version__}"


def test_help_names_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "selfcheck" in result.output


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "cassflow"
    completed = subprocess.run(
        [str(script), "selfcheck"], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert "all conversations arrived intact" in completed.stdout
