"""Secret references resolve from the environment and from files, and never print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from cassflow.access import SecretError, resolve_secrets


def test_env_and_file_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_PASSWORD", "s3cr3t-env")
    (tmp_path / "plain").write_text("s3cr3t-file\n")
    (tmp_path / "doc.json").write_text(json.dumps({"password": "s3cr3t-json"}))
    resolved = resolve_secrets(SecretStr("${secret:env:SHOP_PASSWORD}"))
    assert resolved is not None
    assert resolved.get_secret_value() == "s3cr3t-env"
    assert "s3cr3t" not in repr(resolved) + str(resolved)
    plain = resolve_secrets(f"${{secret:file:{tmp_path / 'plain'}}}")
    assert plain is not None
    assert plain.get_secret_value() == "s3cr3t-file"
    field = resolve_secrets(f"x-${{secret:file:{tmp_path / 'doc.json'}#password}}")
    assert field is not None
    assert field.get_secret_value() == "x-s3cr3t-json"
    assert resolve_secrets(None) is None
    literal = resolve_secrets("no references")
    assert literal is not None
    assert literal.get_secret_value() == "no references"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("${secret:env:NOT_SET_ANYWHERE}", "environment variable NOT_SET_ANYWHERE is not set"),
        ("${secret:vaultx:kv/a}", "unknown secrets backend 'vaultx'"),
        ("${secret:file:/nonexistent/x}", "cannot read /nonexistent/x"),
        ("${secret:env:A#b}", "the env backend has no fields"),
    ],
)
def test_unresolvable_references_name_the_reference(reference: str, message: str) -> None:
    with pytest.raises(SecretError, match=message) as info:
        resolve_secrets(reference)
    assert reference in str(info.value)
