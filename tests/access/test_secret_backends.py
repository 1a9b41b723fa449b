"""The cmd and airflow secrets backends (the latter against real Airflow), and the chain's
behaviour without Vault or Airflow."""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from cassflow.access import (
    BUILTIN_BACKENDS,
    SecretError,
    _secret_backends,
    _secrets,
    register_backend,
    resolve_secrets,
)

SECRET = "s3cr3t-Value-71"


def _script(tmp_path: Path, body: str) -> str:
    """A command line running ``body`` as a Python script."""
    script = tmp_path / "secret_tool.py"
    script.write_text(body)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def _value(reference: str) -> str:
    resolved = resolve_secrets(reference)
    assert resolved is not None
    return resolved.get_secret_value()


def test_cmd_reads_stdout_without_the_trailing_newline(tmp_path: Path) -> None:
    command = _script(tmp_path, f"import sys\nsys.stdout.write({SECRET!r} + '\\r\\n')\n")
    assert _value(f"${{secret:cmd:{command}}}") == SECRET
    resolved = resolve_secrets(f"user:${{secret:cmd:{command}}}@host")
    assert resolved is not None
    assert resolved.get_secret_value() == f"user:{SECRET}@host"
    assert SECRET not in repr(resolved) + str(resolved)


def test_cmd_passes_arguments_without_a_shell(tmp_path: Path) -> None:
    command = _script(tmp_path, "import sys\nprint('|'.join(sys.argv[1:]))\n")
    # Quoted words stay one argument; $HOME and ; are not a shell's.
    assert _value(f"${{secret:cmd:{command} 'two words' $HOME ;x}}") == "two words|$HOME|;x"


def test_cmd_field_reads_a_json_object(tmp_path: Path) -> None:
    body = f"import json\nprint(json.dumps({{'username': 'loader', 'password': {SECRET!r}}}))\n"
    command = _script(tmp_path, body)
    assert _value(f"${{secret:cmd:{command}#password}}") == SECRET
    assert _value(f"${{secret:cmd:{command}#username}}") == "loader"
    with pytest.raises(
        SecretError, match=r"has no field 'pass' \(its fields: password, username\)"
    ) as info:
        resolve_secrets(f"${{secret:cmd:{command}#pass}}")
    assert SECRET not in str(info.value)


def test_cmd_failure_names_the_program_never_its_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = f"import sys\nprint({SECRET!r})\nprint({SECRET!r}, file=sys.stderr)\nsys.exit(3)\n"
    command = _script(tmp_path, body)
    with pytest.raises(SecretError) as info:
        resolve_secrets(f"${{secret:cmd:{command}}}")
    message = str(info.value)
    assert f"{sys.executable} exited with status 3" in message
    assert "its output is not shown" in message
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert SECRET not in message + caplog.text


def test_cmd_not_json_and_not_found_and_empty(tmp_path: Path) -> None:
    command = _script(tmp_path, f"print({SECRET!r})\n")
    with pytest.raises(SecretError, match="did not print a JSON object") as info:
        resolve_secrets(f"${{secret:cmd:{command}#password}}")
    assert SECRET not in str(info.value)
    with pytest.raises(SecretError, match="program 'no-such-tool-xyz' not found"):
        resolve_secrets("${secret:cmd:no-such-tool-xyz show shop}")
    with pytest.raises(SecretError, match="the command line is empty"):
        resolve_secrets("${secret:cmd:   }")
    with pytest.raises(SecretError, match="cannot split the command line"):
        resolve_secrets("${secret:cmd:tool 'unclosed}")


def test_cmd_is_killed_after_its_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_secret_backends, "COMMAND_TIMEOUT", 0.5)
    command = _script(tmp_path, "import time\ntime.sleep(60)\n")
    with pytest.raises(SecretError, match=r"did not finish within 0.5 s \(it was killed\)"):
        resolve_secrets(f"${{secret:cmd:{command}}}")


def test_file_field_errors_name_fields_not_values(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({"password": SECRET, "port": 9042}))
    with pytest.raises(SecretError, match="has no text in field 'port'") as info:
        resolve_secrets(f"${{secret:file:{path}#port}}")
    assert SECRET not in str(info.value)


@pytest.fixture
def airflow_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> pytest.MonkeyPatch:
    """Airflow connections and variables from ``AIRFLOW_CONN_*``/``AIRFLOW_VAR_*`` variables.

    Airflow reads its home when first imported: unless the provider's tests have set one
    already, the backend's first import of Airflow gets a throwaway home, not ~/airflow."""
    if "AIRFLOW_HOME" not in os.environ and "airflow" not in sys.modules:
        os.environ["AIRFLOW_HOME"] = str(tmp_path_factory.mktemp("airflow-home"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_CASSANDRA_SHOP",
        json.dumps(
            {
                "conn_type": "cassflow",
                "login": "loader",
                "password": SECRET,
                "host": "cass1.example",
                "port": 9042,
                "extra": {"keyspace": "shop", "ssl": {"ca": "/ca.pem"}, "empty": None},
            }
        ),
    )
    monkeypatch.setenv("AIRFLOW_VAR_SHOP_TOKEN", SECRET)
    return monkeypatch


def test_airflow_fields_and_variables_through_real_airflow(
    airflow_environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert _value("${secret:airflow:cassandra_shop#password}") == SECRET
    assert _value("${secret:airflow:cassandra_shop#login}") == "loader"
    assert _value("${secret:airflow:cassandra_shop#host}") == "cass1.example"
    assert _value("${secret:airflow:cassandra_shop#port}") == "9042"
    assert _value("${secret:airflow:cassandra_shop#extra.keyspace}") == "shop"
    assert json.loads(_value("${secret:airflow:cassandra_shop#extra.ssl}")) == {"ca": "/ca.pem"}
    assert _value("${secret:airflow:var/shop_token}") == SECRET
    resolved = resolve_secrets("user:${secret:airflow:cassandra_shop#password}@host")
    assert resolved is not None
    assert SECRET not in repr(resolved) + str(resolved)
    # Read by Airflow's Task SDK, the one import of Airflow being cassflow.airflow's.
    assert "cassflow.airflow._secrets" in sys.modules
    assert SECRET not in caplog.text


def test_airflow_reference_errors_name_the_reference_never_the_secret(
    airflow_environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for reference, message in [
        ("${secret:airflow:cassandra_shop}", "name the connection's field"),
        ("${secret:airflow:cassandra_shop#schema}", "connection 'cassandra_shop' has no schema"),
        ("${secret:airflow:cassandra_shop#token}", "unknown connection field 'token'"),
        ("${secret:airflow:cassandra_shop#extra.user}", "has no extra 'user'"),
        ("${secret:airflow:cassandra_shop#extra.empty}", "has no extra 'empty'"),
        ("${secret:airflow:missing_conn#password}", "Airflow has no connection 'missing_conn'"),
        ("${secret:airflow:var/missing}", "Airflow has no variable 'missing'"),
        ("${secret:airflow:var/shop_token#x}", "an Airflow variable has no fields"),
    ]:
        with pytest.raises(SecretError, match=message) as info:
            resolve_secrets(reference)
        assert reference in str(info.value)
        assert SECRET not in str(info.value)
        assert info.value.__cause__ is None
    assert SECRET not in caplog.text


def test_airflow_without_airflow_installed_is_a_clear_error() -> None:
    # What a missing package looks like to an import (None in sys.modules), in a fresh process
    # so that this one's Airflow stays imported.
    code = (
        "import sys\n"
        "sys.modules['airflow'] = None\n"
        "from cassflow.access import SecretError, resolve_secrets\n"
        "try:\n"
        "    resolve_secrets('${secret:airflow:cassandra_shop#password}')\n"
        "except SecretError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    message = done.stdout.strip()
    assert message.startswith("${secret:airflow:cassandra_shop#password}: "), done.stderr
    assert "apache-airflow is not installed" in message
    assert "pip install 'cassflow[airflow]'" in message


def test_vault_backends_check_their_references_before_calling_vault(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("VAULT_ADDR", "BAO_ADDR"):
        monkeypatch.delenv(name, raising=False)
    for reference, message in [
        ("${secret:vault:secret/shop#password}", "set VAULT_ADDR"),
        ("${secret:vault:secret#password}", "expected <mount>/<path>"),
        ("${secret:vault-db:database/loader#password}", "expected <mount>/creds/<role>"),
        ("${secret:vault-db:database/creds/loader}", "name the field: #username or #password"),
        ("${secret:vault-db:database/creds/loader#password}", "set VAULT_ADDR"),
    ]:
        with pytest.raises(SecretError, match=message) as info:
            resolve_secrets(reference)
        assert reference in str(info.value)


def test_vault_without_hvac_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:1")
    monkeypatch.setenv("VAULT_TOKEN", "t")
    monkeypatch.setitem(sys.modules, "hvac", None)  # what a missing package looks like
    with pytest.raises(SecretError, match=r"pip install 'cassflow\[vault\]'"):
        resolve_secrets("${secret:vault:secret/shop#password}")


def test_importing_cassflow_access_imports_no_backend_library() -> None:
    code = (
        "import sys, cassflow.access\n"
        "heavy = {'hvac', 'requests', 'airflow', 'cassflow.access._vault',"
        " 'cassflow.access._leases', 'cassflow.access._secret_backends'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_registered_backend_and_the_documented_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # A copy of the registry, so that the test's backend does not outlive the test.
    monkeypatch.setattr(_secrets, "_BACKENDS", dict(_secrets._BACKENDS))
    assert BUILTIN_BACKENDS == ("env", "file", "cmd", "airflow", "vault", "vault-db")
    register_backend("test-upper", lambda path, field: path.upper() + (field or ""))
    assert _value("${secret:test-upper:abc#d}") == "ABCd"
    with pytest.raises(SecretError, match="known: airflow, cmd, env, file, test-upper, vault"):
        resolve_secrets(SecretStr("${secret:nope:x}"))
