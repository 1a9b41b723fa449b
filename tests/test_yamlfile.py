"""The YAML helpers the pipeline loader and the policy reader share: one parse giving nodes and
data, repeated keys and self-containing aliases refused, validation errors placed at their key.
(The callers' own messages are asserted in tests/pipeline and tests/proxy/test_policy.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cassflow._yamlfile import (
    check_keys,
    locate,
    parse,
    position,
    read_text,
    validation_problems,
)


class ProblemError(Exception):
    """What the helpers raise here (the callers pass PipelineError, PolicyError)."""


def test_parse_gives_the_node_tree_and_the_data_of_one_document() -> None:
    root, data = parse("a:\n  b: [1, x]\n", "f.yaml", ProblemError)
    assert data == {"a": {"b": [1, "x"]}}
    assert root is not None
    assert position("f.yaml", locate(root, ("a", "b", 1))) == "f.yaml:2:10"
    assert parse("# nothing\n", "f.yaml", ProblemError) == (None, None)


def test_invalid_yaml_and_unsafe_tags_are_refused_at_their_position() -> None:
    with pytest.raises(
        ProblemError, match=r"^f\.yaml:2:1: not valid YAML: but found another document$"
    ):
        parse("a: 1\n---\nb: 2\n", "f.yaml", ProblemError)
    with pytest.raises(ProblemError, match=r"^f\.yaml:1:4: not valid YAML: could not determine"):
        parse("a: !!python/object:os.system x\n", "f.yaml", ProblemError)


def test_the_loader_given_constructs_the_data() -> None:
    class Strings(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML is untyped here
        pass

    Strings.add_constructor("tag:yaml.org,2002:int", lambda _loader, node: f"int {node.value}")
    assert parse("a: 7\n", "f", ProblemError, Strings)[1] == {"a": "int 7"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: {c: 1, c: 2}\n", "f.yaml:2:11: duplicate key 'c'"),
        ("a: [{x: 1}, {x: 1, x: 2}]\n", "f.yaml:1:20: duplicate key 'x'"),
        ("a: &x {b: [*x]}\n", "f.yaml:1:4: endless"),
        ("a: &x 1\nb: *x\nc: &y [1]\nd: *y\n", None),  # aliases elsewhere are fine
    ],
)
def test_repeated_keys_and_self_containing_aliases(text: str, message: str | None) -> None:
    root, _ = parse(text, "f.yaml", ProblemError)
    assert root is not None
    if message is None:
        check_keys("f.yaml", root, ProblemError, self_alias="endless")
        return
    with pytest.raises(ProblemError) as caught:
        check_keys("f.yaml", root, ProblemError, self_alias="endless")
    assert str(caught.value) == message


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int


class Outer(BaseModel):
    items: list[Inner]


def every_key(_item: str | int) -> bool:
    return True


def test_validation_problems_point_at_the_deepest_key_found() -> None:
    text = "items:\n  - {n: 1}\n  - {n: x, m: 2}\n"
    root, data = parse(text, "f.yaml", ProblemError)
    assert root is not None
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate(data)
    assert validation_problems("f.yaml", root, caught.value, is_key=every_key) == (
        "f.yaml:3:6: items.1.n: Input should be a valid integer, unable to parse string as an "
        "integer\nf.yaml:3:12: items.1.m: Extra inputs are not permitted"
    )
    missing = yaml.compose("other: 1\n")
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"other": 1})
    # A key that is not in the file: the line of the nearest one found (here the top level).
    assert validation_problems("f.yaml", missing, caught.value, is_key=every_key) == (
        "f.yaml:1:1: items: Field required"
    )


def test_read_text_names_the_file_and_what_is_wrong(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("a: ü\n", encoding="utf-8")
    assert read_text(good, ProblemError) == "a: ü\n"
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\n\xff\n")
    with pytest.raises(ProblemError, match=r"bad\.yaml: not UTF-8 text at byte 5$"):
        read_text(bad, ProblemError)
    with pytest.raises(
        ProblemError, match=r"missing\.yaml: cannot read: No such file or directory$"
    ):
        read_text(tmp_path / "missing.yaml", ProblemError)
