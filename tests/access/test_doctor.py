"""``cassflow doctor`` finds each seeded problem at its file:line, and nothing in clean files.

The fixture folder ``doctor_fixtures/seeded`` marks every line the doctor must report with a
``# seeded: <rule>[, <rule>]`` comment; the tests compare the doctor's findings with those
marks exactly, so a missed problem and a false alarm both fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cassflow.access._doctor import RULES, DoctorUsageError, Finding, lint_paths
from cassflow.cli._doctor import _validate
from commands import run_cassflow

FIXTURES = Path(__file__).parent / "doctor_fixtures"
SEEDED = FIXTURES / "seeded"
CLEAN = FIXTURES / "clean"
_MARK = re.compile(r"#\s*seeded:\s*([a-z, -]+)")
#: Every literal secret in the seeded files contains this, and no output may.
SECRET_MARK = "s3cr3t"


def _expected(folder: Path) -> set[tuple[str, int, str]]:
    """(file relative to ``folder``, line, rule) of every ``# seeded:`` mark."""
    expected = set()
    for path in sorted(folder.rglob("*")):
        if path.suffix not in {".py", ".yaml", ".yml"}:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = _MARK.search(line)
            if match:
                for rule in match[1].split(","):
                    expected.add((path.relative_to(folder).as_posix(), number, rule.strip()))
    return expected


def _found(findings: list[Finding] | list[dict[str, object]], folder: Path | str) -> set[object]:
    rows = [f.as_dict() if isinstance(f, Finding) else f for f in findings]
    prefix = f"{Path(folder).as_posix()}/"
    return {
        (str(r["path"]).replace("\\", "/").removeprefix(prefix), r["line"], r["rule"]) for r in rows
    }


def test_every_rule_is_seeded_once_or_more() -> None:
    seeded_rules = {rule for _, _, rule in _expected(SEEDED)}
    # syntax-error in Python is seeded in a test of its own (a broken .py file in the
    # repository would break the linters that run over it).
    assert seeded_rules == set(RULES)


def test_seeded_folder_findings_are_exactly_the_marks() -> None:
    report = lint_paths([SEEDED], validate=_validate)
    assert _found(report.findings, SEEDED) == _expected(SEEDED)
    assert report.exit_code == 1
    assert report.files_checked == 5
    assert report.files_skipped == 0
    for found in report.findings:
        assert found.fix
        assert found.column >= 1
        assert SECRET_MARK not in found.message + found.fix


def test_clean_folder_has_no_findings() -> None:
    report = lint_paths([CLEAN], validate=_validate)
    assert report.findings == []
    assert report.exit_code == 0
    assert (report.files_checked, report.files_skipped) == (3, 1)
    assert report.as_text() == (
        "cassflow doctor: 3 files checked, 1 YAML file(s) not cassflow's skipped, no findings"
    )


def test_cli_json_output_and_exit_code() -> None:
    result = run_cassflow(["doctor", "seeded", "--format", "json"], cwd=FIXTURES, timeout=60)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert _found(document["findings"], "seeded") == _expected(SEEDED)
    for row in document["findings"]:
        assert row["severity"] == RULES[row["rule"]].severity
        assert set(row) == {"path", "line", "column", "rule", "severity", "message", "fix"}
    assert document["files_checked"] == 5
    assert document["summary"].endswith("warning(s))")
    assert SECRET_MARK not in result.stdout + result.stderr


def test_cli_text_output_names_file_line_rule_and_fix() -> None:
    result = run_cassflow(["doctor", "seeded/pipelines/orders.yaml"], cwd=FIXTURES, timeout=60)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        "seeded/pipelines/orders.yaml:9:3: error no-keyspace: connection 'reporting' has "
        "no keyspace" in lines
    )
    marks = sum(path == "pipelines/orders.yaml" for path, _, _ in _expected(SEEDED))
    assert lines[-1].startswith(f"cassflow doctor: 1 file checked, {marks} findings")
    assert sum(line.startswith("    fix: ") for line in lines) == marks
    assert SECRET_MARK not in result.stdout + result.stderr


def test_cli_clean_folder_prints_only_the_summary() -> None:
    result = run_cassflow(["doctor", "clean"], cwd=FIXTURES, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "cassflow doctor: 3 files checked, 1 YAML file(s) not cassflow's skipped, no findings"
    ]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["doctor", "no/such/dir"], "no/such/dir: no such file or directory"),
        (
            ["doctor", "{tmp}/notes.txt"],
            "notes.txt: not a pipeline (.yaml, .yml) or DAG (.py) file",
        ),
        (["doctor", "clean", "--format", "xml"], "xml"),
    ],
)
def test_cli_usage_errors_exit_2(tmp_path: Path, args: list[str], complaint: str) -> None:
    (tmp_path / "notes.txt").write_text("password: hunter2\n")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = run_cassflow(args, cwd=FIXTURES, timeout=60)
    assert result.returncode == 2
    assert complaint in result.stderr
    assert result.stdout == ""


def test_a_missing_path_is_a_usage_error_of_the_library(tmp_path: Path) -> None:
    with pytest.raises(DoctorUsageError, match="no such file or directory"):
        lint_paths([tmp_path / "absent.yaml"])


def _lint(tmp_path: Path, name: str, text: str, validate: bool = False) -> set[tuple[int, str]]:
    path = tmp_path / name
    path.write_text(text)
    report = lint_paths([path], validate=_validate if validate else None)
    return {(f.line, f.rule) for f in report.findings}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Clusters are recognised through the imports, not by spelling.
        (
            "import cassandra.cluster as cc\ncc.Cluster().connect('ks')\n",
            {(2, "hand-built-cluster")},
        ),
        (
            "from cassandra.cluster import *\nwith Cluster() as c:\n    s = c.connect()\n",
            {(2, "hand-built-cluster"), (3, "no-keyspace")},
        ),
        (
            "from cassandra.cluster import Cluster as C\nC().connect(keyspace='ks')\n",
            {(2, "hand-built-cluster")},
        ),
        ("from dask.distributed import Cluster\nCluster().connect()\n", set()),
        # The per-row storm: loops, while loops and comprehensions; not the loop's iterable,
        # not a function merely defined in a loop, not execute_async.
        (
            "for r in session.execute('SELECT k FROM t'):\n    session.execute(q, (r.k,))\n",
            {(2, "per-row-execute")},
        ),
        ("for k in keys:\n    s.session.execute(q)\n", {(2, "per-row-execute")}),
        ("while not done():\n    done = session.execute(poll).one()\n", set()),  # a poll
        ("[db_session.execute(q, (k,)) for k in keys]\n", {(1, "per-row-execute")}),
        ("for k in keys:\n    def f():\n        session.execute(q)\n", set()),
        ("for k in keys:\n    session.execute_async(q, (k,))\n", set()),
        ("c = sqlite3.connect(':memory:')\nfor k in keys:\n    c.execute(q, (k,))\n", set()),
        (
            "s = self.cluster.connect('ks')\nfor k in keys:\n    s.execute(q, (k,))\n",
            {(3, "per-row-execute")},
        ),
        # CQL built from strings, in every spelling; a literal with bind values is fine.
        ("session.execute('SELECT * FROM t WHERE k = %s' % key)\n", {(1, "cql-string-formatting")}),
        (
            "session.execute('SELECT * FROM t WHERE k = {}'.format(k))\n",
            {(1, "cql-string-formatting")},
        ),
        ("session.prepare('SELECT * FROM ' + table)\n", {(1, "cql-string-formatting")}),
        ("session.execute('SELECT * FROM t WHERE k = %s', (key,))\n", set()),
        # Credentials: keywords, variables, dict keys; references and templates are fine.
        ("DB_PASSWORD = 'hunter2'\n", {(1, "plaintext-credential")}),
        ("x = {'api_key': 'abc123'}\n", {(1, "plaintext-credential")}),
        ("connect(password=12345)\n", {(1, "plaintext-credential")}),
        ("connect(start_token=12345, password_file='/run/secrets/p')\n", set()),
        ("connect(password='${secret:env:P}', token='{{ conn.x.password }}')\n", set()),
        ("connect(password='')\n", set()),
        # Connection strings: Azure storage keys, ODBC passwords; placeholders are fine.
        (
            "c = 'AccountName=acme;AccountKey=abc123==;EndpointSuffix=x'\n",
            {(1, "plaintext-credential")},
        ),
        ("c = 'Server=db;Uid=etl;Pwd={%s};'\nd = 'Server=db;Password=${secret:env:P}'\n", set()),
        # TLS verification switched off.
        ("import ssl\nctx = ssl._create_unverified_context()\n", {(2, "insecure-tls")}),
        ("import ssl\nopts = {'cert_reqs': ssl.CERT_NONE}\n", {(2, "insecure-tls")}),
        ("requests.get(url, verify=False)\n", {(1, "insecure-tls")}),
        # ... but cassflow's verify reads a copy back, and a field declaration does nothing.
        (
            "from cassflow.pipeline import CopySpec\n"
            "CopySpec(verify=False, copy={'verify': False})\n",
            set(),
        ),
        ("class Options:\n    verify: bool = False\n    check_hostname = False\n", set()),
        ("PASSWORD_AUTHENTICATOR = 'org.apache.cassandra.auth.PasswordAuthenticator'\n", set()),
        # Suppression: the named rule only, or every rule.
        ("PASSWORD = 'x'  # doctor: ignore[per-row-execute]\n", {(1, "plaintext-credential")}),
        ("PASSWORD = 'x'  # doctor: ignore\n", set()),
    ],
)
def test_python_rules(tmp_path: Path, source: str, expected: set[tuple[int, str]]) -> None:
    assert _lint(tmp_path, "dag.py", source) == expected


def test_python_syntax_error_is_a_finding(tmp_path: Path) -> None:
    assert _lint(tmp_path, "dag.py", '"""A DAG."""\n\ndef extract(:\n    pass\n') == {
        (3, "syntax-error")
    }


def test_undecodable_file_is_a_finding(tmp_path: Path) -> None:
    assert _lint(tmp_path, "dag.py", "") == set()
    (tmp_path / "dag.py").write_bytes(b"x = '\xff'\n")
    report = lint_paths([tmp_path / "dag.py"])
    assert [(f.line, f.rule, f.message) for f in report.findings] == [
        (1, "syntax-error", "not UTF-8 text")
    ]


def test_env_references_do_not_fail_validation(tmp_path: Path) -> None:
    """``${env:...}`` values are only known where the pipeline runs: a wrong type there is
    not the file's fault; a wrong value elsewhere still is."""
    text = (
        "name: p\n"
        "connections:\n"
        "  shop:\n"
        "    port: ${env:SHOP_PORT}\n"
        "    keyspace: shop\n"
        "    request_timeout: soon\n"
        "activities:\n"
        "  - {name: a, cql: {connection: shop, statements: ['SELECT 1']}}\n"
    )
    assert _lint(tmp_path, "p.yaml", text, validate=True) == {(6, "invalid-pipeline")}


def test_yaml_rules_without_validation(tmp_path: Path) -> None:
    text = (
        "connections:\n"
        "  shop:\n"
        "    keyspace: shop\n"
        "    tls: {ca_file: ca.pem, check_hostname: false}\n"
        "    auth:\n"
        "      username: loader\n"
        "      password: 1234\n"
        "datasets:\n"
        "  events: {connection: shop, table: events, batch_size: 101, batch_mode: partition}\n"
        "  unbatched: {connection: shop, table: e2, batch_size: 900, batch_mode: none}\n"
        "  files: {format: csv, path: x.csv, options: {batch_size: 500}}\n"
        "activities:\n"
        "  - name: a\n"
        "    copy: {from: files, to: events, max_errors: '0%', slice_attempts: 2, verify: false}\n"
        "  - name: b  # doctor: ignore[no-retries]\n"
        "    copy: {from: files, to: events, slice_attempts: 1}  # doctor: ignore[no-retries]\n"
    )
    assert _lint(tmp_path, "p.yaml", text) == {
        (4, "insecure-tls"),
        (7, "plaintext-credential"),
        (9, "batch-too-large"),
        (14, "no-retries"),
    }


def test_yaml_that_is_not_cassflows_is_skipped_and_recursion_is_safe(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services: {db: {environment: {PASSWORD: x}}}\n")
    # An anchor that contains itself: the pipeline loader refuses it (a value without end),
    # the doctor reports that and still runs its own checks.
    (tmp_path / "loop.yaml").write_text("connections: &c\n  again: *c\n")
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 3000 + "]" * 3000 + "\n")
    report = lint_paths([tmp_path], validate=_validate)
    assert (report.files_checked, report.files_skipped) == (2, 1)
    assert {(Path(f.path).name, f.line, f.rule, f.message) for f in report.findings} == {
        ("deep.yaml", 1, "syntax-error", "nested too deeply to check"),
        (
            "loop.yaml",
            1,
            "invalid-pipeline",
            "the anchor here is used by an alias inside its own value (a value without end); "
            "repeat the value instead",
        ),
        ("loop.yaml", 2, "no-keyspace", "connection 'again' has no keyspace"),
    }


def test_importing_the_doctor_leaves_pipeline_and_copy_alone() -> None:
    code = (
        "import sys, cassflow.access._doctor\n"
        "bad = [m for m in sys.modules if m.startswith(('cassflow.pipeline', 'cassflow.copy'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
