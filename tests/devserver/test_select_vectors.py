"""Cassandra 5.0's vector similarity functions (cql3/functions/VectorFcts and VectorFctsTest):
similarity_cosine, similarity_euclidean and similarity_dot_product of float vectors."""

from __future__ import annotations

import os

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session

from columns import column_types

FUNCTIONS = ["similarity_cosine", "similarity_euclidean", "similarity_dot_product"]


@pytest.fixture
def vectors(session: Session, keyspace: str) -> str:
    if os.environ.get("CASSFLOW_TEST_HOSTS"):
        version = session.execute("SELECT release_version FROM system.local").one()
        if int(version.release_version.split(".")[0]) < 5:
            pytest.skip("vector<> and its functions are Cassandra 5")
    table = f"{keyspace}.vecs"
    session.execute(
        f"CREATE TABLE {table} (pk int PRIMARY KEY, value vector<float, 2>, l list<float>, "
        "fl frozen<list<float>>, v1 vector<float, 1>, v_int vector<int, 2>)"
    )
    session.execute(
        f"INSERT INTO {table} (pk, value, l, fl, v1, v_int) "
        "VALUES (0, [1, 2], [1, 2], [1, 2], [1], [1, 2])"
    )
    return table


def test_similarity_values_names_and_type(session: Session, vectors: str) -> None:
    result = session.execute(
        "SELECT similarity_cosine(value, value), similarity_euclidean(value, [3, 4]), "
        f"similarity_dot_product([1, 2], value), similarity_cosine(value, [-1, -2]) FROM {vectors}"
    )
    assert result.column_names == [
        "system.similarity_cosine(value, value)",
        "system.similarity_euclidean(value, [3, 4])",
        "system.similarity_dot_product([1, 2], value)",
        "system.similarity_cosine(value, [-1, -2])",
    ]
    assert column_types(result) == ["float"] * 4
    row = result.one()
    assert row[0] == pytest.approx(1.0)
    assert row[1] == pytest.approx(1 / 9)  # 1 / (1 + squared distance 8)
    assert row[2] == pytest.approx(3.0)  # (1 + 5) / 2
    assert row[3] == pytest.approx(0.0)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_bind_markers_and_nulls(session: Session, vectors: str, function: str) -> None:
    prepared = session.prepare(f"SELECT {function}(value, ?) FROM {vectors}")
    bound = prepared.column_metadata[0].type.cql_parameterized_type()
    assert bound.endswith("VectorType<float, 2>") or bound == "vector<float, 2>"
    assert session.execute(prepared, [[1.0, 2.0]]).one()[0] is not None
    assert session.execute(prepared, [None]).one()[0] is None
    assert session.execute(f"SELECT {function}(null, value) FROM {vectors}").one()[0] is None
    with pytest.raises(InvalidRequest, match="Cannot infer type of argument \\? in call to"):
        session.prepare(f"SELECT {function}(?, ?) FROM {vectors}")
    with pytest.raises(InvalidRequest, match="Cannot infer type of argument NULL in call to"):
        session.execute(f"SELECT {function}(null, null) FROM {vectors}")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_argument_checks(session: Session, vectors: str, function: str) -> None:
    name = f"system.{function}"
    cases = {
        "l, value": f"Function {name} requires a float vector argument, but found argument l "
        "of type list<float>",
        "fl, [1, 2]": f"Function {name} requires a float vector argument, but found argument "
        "fl of type frozen<list<float>>",
        "[1, 2], v_int": f"Function {name} requires a float vector argument, but found "
        "argument v_int of type vector<int, 2>",
        "(list<float>)[1, 2], [3, 4]": f"Function {name} requires a float vector argument, "
        "but found argument (list<float>)[1, 2] of type frozen<list<float>>",
        "value, [1]": "All arguments must have the same vector dimensions",
        "value, v1": "All arguments must have the same vector dimensions",
        "value, ['a', 'b']": "Type error: ['a', 'b'] cannot be passed as argument 1",
    }
    for arguments, message in cases.items():
        with pytest.raises(InvalidRequest) as info:
            session.execute(f"SELECT {function}({arguments}) FROM {vectors}")
        assert message in str(info.value), arguments


def test_zero_vectors(session: Session, vectors: str) -> None:
    with pytest.raises(
        InvalidRequest, match=r"Function system\.similarity_cosine doesn't support all-zero vectors"
    ):
        session.execute(f"SELECT similarity_cosine(value, [0, 0]) FROM {vectors}")
    row = session.execute(
        f"SELECT similarity_euclidean(value, [0, 0]), similarity_dot_product([0, 0], value) "
        f"FROM {vectors}"
    ).one()
    assert row[0] == pytest.approx(1 / 6)
    assert row[1] == pytest.approx(0.5)


def test_vectors_in_json(session: Session, vectors: str) -> None:
    row = session.execute(f"SELECT JSON value FROM {vectors}").one()
    assert row[0] == '{"value": [1.0, 2.0]}'
    assert session.execute(f"SELECT toJson(value) FROM {vectors}").one()[0] == "[1.0, 2.0]"
