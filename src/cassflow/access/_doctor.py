"""``cassflow doctor``: lint pipeline files and Airflow DAG files for insecure or fragile use
of Cassandra, and report each finding with file:line, a rule id and a fix.

:func:`lint_paths` takes files and directories (searched recursively for ``*.yaml``,
``*.yml`` and ``*.py``), runs the YAML checks (:mod:`cassflow.access._doctor_yaml`) and the
Python checks (:mod:`cassflow.access._doctor_python`) and returns a :class:`DoctorReport`.
A finding is silenced by ``# doctor: ignore[rule-id]`` on its line. The rules are listed in
:data:`cassflow.access._doctor_rules.RULES` and explained in docs/doctor.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cassflow.access._doctor_python import lint_python
from cassflow.access._doctor_rules import RULES, Finding, Rule, finding, suppressed
from cassflow.access._doctor_yaml import Kind, PlaceholderEnv, Validator, lint_yaml
from cassflow.errors import CassflowError

__all__ = [
    "RULES",
    "DoctorReport",
    "DoctorUsageError",
    "Finding",
    "Kind",
    "PlaceholderEnv",
    "Rule",
    "Validator",
    "lint_paths",
]

_YAML = frozenset({".yaml", ".yml"})
_SUFFIXES = _YAML | {".py"}


class DoctorUsageError(CassflowError):
    """A path that cannot be checked: missing, unreadable, or not a YAML or Python file."""


@dataclass(frozen=True)
class DoctorReport:
    """What one doctor run found."""

    findings: list[Finding]
    #: Files checked: pipeline and connection files, and Python files.
    files_checked: int
    #: YAML files that are not cassflow pipeline or connection files (not checked).
    files_skipped: int

    @property
    def exit_code(self) -> int:
        """0 without findings, 1 with any."""
        return 1 if self.findings else 0

    def summary(self) -> str:
        """One line: how many files, how many findings of which severity."""
        files = f"{self.files_checked} file{'s' * (self.files_checked != 1)} checked"
        if self.files_skipped:
            files += f", {self.files_skipped} YAML file(s) not cassflow's skipped"
        if not self.findings:
            return f"cassflow doctor: {files}, no findings"
        errors = sum(f.severity == "error" for f in self.findings)
        warnings = len(self.findings) - errors
        return (
            f"cassflow doctor: {files}, {len(self.findings)} finding"
            f"{'s' * (len(self.findings) != 1)} ({errors} error(s), {warnings} warning(s))"
        )

    def as_text(self) -> str:
        """Each finding as ``file:line:column: severity rule-id: message`` and its fix, then
        the summary line."""
        lines = []
        for f in self.findings:
            lines.append(f"{f.path}:{f.line}:{f.column}: {f.severity} {f.rule}: {f.message}")
            lines.append(f"    fix: {f.fix}")
        lines.append(self.summary())
        return "\n".join(lines)

    def as_json(self) -> str:
        """The report as a JSON document: findings, file counts and the summary line."""
        return json.dumps(
            {
                "findings": [f.as_dict() for f in self.findings],
                "files_checked": self.files_checked,
                "files_skipped": self.files_skipped,
                "summary": self.summary(),
            },
            indent=2,
        )


def lint_paths(paths: Sequence[Path], validate: Validator | None = None) -> DoctorReport:
    """Check the files and directories ``paths``; ``validate`` validates pipeline and
    connection files against cassflow's spec (its errors become ``invalid-pipeline``)."""
    findings: list[Finding] = []
    checked = skipped = 0
    for path in _files(paths):
        text = _read(path)
        if text is None:
            findings.append(finding(str(path), 1, 1, "syntax-error", "not UTF-8 text"))
            checked += 1
            continue
        try:
            if path.suffix in _YAML:
                kind, found = lint_yaml(path, text, validate)
                if kind is None:
                    skipped += 1
                    continue
            else:
                found = lint_python(str(path), text)
        except RecursionError:  # the parsers and walkers recurse once per nesting level
            found = [finding(str(path), 1, 1, "syntax-error", "nested too deeply to check")]
        checked += 1
        lines = text.splitlines()
        findings += [f for f in found if not _silenced(f, lines)]
    findings.sort(key=lambda f: (f.path, f.line, f.column, f.rule))
    return DoctorReport(findings, checked, skipped)


def _silenced(found: Finding, lines: list[str]) -> bool:
    return 0 < found.line <= len(lines) and suppressed(lines[found.line - 1], found.rule)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None
    except OSError as exc:
        raise DoctorUsageError(f"{path}: cannot read: {exc.strerror}") from None


def _files(paths: Iterable[Path]) -> list[Path]:
    """The files to check, each once, in a stable order; directories searched recursively
    (hidden directories and __pycache__ left out)."""
    result: dict[Path, Path] = {}
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                parts = found.relative_to(path).parts
                hidden = any(p.startswith(".") or p == "__pycache__" for p in parts)
                if found.is_file() and found.suffix in _SUFFIXES and not hidden:
                    result.setdefault(found.resolve(), found)
        elif path.is_file():
            if path.suffix not in _SUFFIXES:
                raise DoctorUsageError(f"{path}: not a pipeline (.yaml, .yml) or DAG (.py) file")
            result.setdefault(path.resolve(), path)
        else:
            raise DoctorUsageError(f"{path}: no such file or directory")
    return list(result.values())
