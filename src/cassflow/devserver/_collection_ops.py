"""UPDATE and DELETE operations on non-frozen collections and user types, as element cells.

Each operation becomes what Cassandra's ``Lists``/``Sets``/``Maps``/``UserTypes`` operations
add to the mutation (:class:`~._multicell.MultiCellWrite`): a whole-value assignment is a
complex deletion at the write's timestamp - 1 plus one cell per element; an addition adds
cells; a removal writes element tombstones; a deletion of the column is a complex deletion at
the timestamp. Only list removals and index operations read the stored cells first (they are
read-before-write in Cassandra too), and they see the row as it was before the statement.
All operations of one statement on one column land together, reconciled by the storage as
the cells of one mutation are (a tombstone beats a cell of the same path and timestamp).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cassflow.cql import (
    Addition,
    Deletion,
    Operation,
    Prepend,
    SetElement,
    SetField,
    SetValue,
    Subtraction,
    Term,
)
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._multicell import (
    ElementCell,
    MultiCellWrite,
    field_cell,
    list_append_paths,
    list_prepend_paths,
    map_cell,
    overwrite_cells,
    set_cell,
)
from cassflow.devserver._schema import ColumnMetadata
from cassflow.devserver._values import Evaluator, split_collection
from cassflow.protocol import UNSET, DataType, TypeCode, Value

__all__ = ["check_collection_operation", "deletion_cells", "operation_cells"]

#: The live element cells (path, value) of the column as stored, read on demand.
Existing = Callable[[], list[tuple[bytes, bytes]]]

_INT = DataType(TypeCode.INT)


def check_collection_operation(op: Operation, column: ColumnMetadata) -> None:
    """``Operation.RawUpdate.prepare``'s checks of a collection operation."""
    code = column.type.code
    collection = code in (TypeCode.LIST, TypeCode.SET, TypeCode.MAP)
    if isinstance(op, SetField):
        if column.type.code is not TypeCode.UDT:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for non-UDT column {column.name}"
            )
        if not column.is_multi_cell:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for frozen UDT column {column.name}"
            )
        return
    if isinstance(op, SetElement):
        if not collection:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for non collection column {column.name}"
            )
        if not column.is_multi_cell:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for frozen collection column {column.name}"
            )
        if code is TypeCode.SET:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for set column {column.name}"
            )
        return
    if isinstance(op, Prepend) and code is not TypeCode.LIST:
        raise InvalidRequestError(
            f"Invalid operation ({op.to_cql()}) for non list column {column.name}"
        )
    if not collection:
        if code is TypeCode.TUPLE and isinstance(op, Addition):
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for tuple column {column.name}"
            )
        raise InvalidRequestError(
            f"Invalid operation ({op.to_cql()}) for non counter column {column.name}"
        )
    if not column.is_multi_cell:
        what = "list" if isinstance(op, Prepend) else "collection"
        raise InvalidRequestError(
            f"Invalid operation ({op.to_cql()}) for frozen {what} column {column.name}"
        )


# --- UPDATE -------------------------------------------------------------------------------


def operation_cells(
    ops: Sequence[Operation],
    column: ColumnMetadata,
    evaluator: Evaluator,
    existing: Existing,
    timestamp: int,
) -> MultiCellWrite | None:
    """What an UPDATE's operations on one non-frozen column write; None: nothing (unset)."""
    dtype = column.type
    if len(ops) == 1 and isinstance(ops[0], SetValue):
        value = evaluator.value(ops[0].value, dtype, column.name)
        if value is UNSET:
            return None
        elements = overwrite_cells(value, dtype) if isinstance(value, bytes) else []
        return MultiCellWrite(tuple(elements), timestamp - 1)
    for op in ops:
        check_collection_operation(op, column)
    cells: list[ElementCell] = []
    for op in ops:
        if isinstance(op, SetField):
            cells += _field_cells(op, column, evaluator)
        elif dtype.code is TypeCode.LIST:
            cells += _list_cells(op, column, evaluator, existing)
        elif isinstance(op, SetElement):  # maps only: sets refuse it
            cells += _map_put(op, column, evaluator)
        else:
            assert isinstance(op, Addition | Subtraction)
            cells += _add_or_remove(op, column, evaluator)
    return MultiCellWrite(tuple(cells)) if cells else None


def _field_cells(op: SetField, column: ColumnMetadata, evaluator: Evaluator) -> list[ElementCell]:
    """``SET u.f = v``: the field's cell (null: its tombstone)."""
    dtype = column.type
    if op.field not in dtype.field_names:
        raise InvalidRequestError(
            f"UDT column {column.name} does not have a field named {op.field}"
        )
    position = dtype.field_names.index(op.field)
    value = evaluator.value(op.value, dtype.params[position], column.name)
    if value is UNSET:
        return []
    return [field_cell(position, value if isinstance(value, bytes) else None, len(dtype.params))]


def _operand(
    op: Addition | Subtraction | Prepend,
    dtype: DataType,
    column: ColumnMetadata,
    evaluator: Evaluator,
) -> list[object] | None:
    """The elements (map: key-value pairs) an operation adds or removes; None: null or unset."""
    value = evaluator.value(op.value, dtype, column.name)
    if not isinstance(value, bytes):
        return None
    return split_collection(value, dtype)


def _add_or_remove(
    op: Addition | Subtraction, column: ColumnMetadata, evaluator: Evaluator
) -> list[ElementCell]:
    """Set and map additions (cells) and removals (tombstones)."""
    dtype = column.type
    key_type = dtype.params[0]
    if isinstance(op, Subtraction):
        # A map's removal takes a set of keys.
        operand_type = DataType.set_of(key_type) if dtype.code is TypeCode.MAP else dtype
        removed = _operand(op, operand_type, column, evaluator) or []
        if dtype.code is TypeCode.MAP:
            return [map_cell(k, None, key_type) for k in removed if isinstance(k, bytes)]
        return [(set_cell(k, key_type)[0], None) for k in removed if isinstance(k, bytes)]
    added = _operand(op, dtype, column, evaluator) or []
    if dtype.code is TypeCode.MAP:
        pairs = [pair for pair in added if isinstance(pair, tuple)]
        return [map_cell(key, value, key_type) for key, value in pairs]
    return [set_cell(e, key_type) for e in added if isinstance(e, bytes)]


def _map_put(op: SetElement, column: ColumnMetadata, evaluator: Evaluator) -> list[ElementCell]:
    """``SET m[k] = v``: the entry's cell; a null value is the entry's tombstone."""
    key_type, value_type = column.type.params
    key = _map_key(evaluator.value(op.key, key_type, column.name))
    value = evaluator.value(op.value, value_type, column.name)
    if value is UNSET:
        return []
    return [map_cell(key, value if isinstance(value, bytes) else None, key_type)]


def _map_key(key: Value) -> bytes:
    if key is None:
        raise InvalidRequestError("Invalid null map key")
    if key is UNSET:
        raise InvalidRequestError("Invalid unset map key")
    assert isinstance(key, bytes)
    return key


def _list_cells(
    op: Operation, column: ColumnMetadata, evaluator: Evaluator, existing: Existing
) -> list[ElementCell]:
    dtype = column.type
    if isinstance(op, SetElement):
        index = _list_index(op.key, column, evaluator)
        if index is None:
            raise InvalidRequestError("Invalid unset value for list index")
        path = _element_path(existing(), index, "set an element on")
        value = evaluator.value(op.value, dtype.params[0], column.name)
        if value is UNSET:
            return []
        return [(path, value if isinstance(value, bytes) else None)]
    assert isinstance(op, Addition | Subtraction | Prepend)
    given = _operand(op, dtype, column, evaluator)
    if isinstance(op, Subtraction):
        if given is None:
            return []
        return [(path, None) for path, value in existing() if value in given]
    if not given:
        return []
    values = [e for e in given if isinstance(e, bytes)]
    paths = (
        list_append_paths(len(values))
        if isinstance(op, Addition)
        else (list_prepend_paths(len(values)))
    )
    return list(zip(paths, values, strict=True))


def _list_index(term: Term, column: ColumnMetadata, evaluator: Evaluator) -> int | None:
    """A list index; None when unset. A null index is refused."""
    raw = evaluator.value(term, _INT, f"[list index of {column.name}]")
    if raw is None:
        raise InvalidRequestError("Invalid null value for list index")
    if raw is UNSET:
        return None
    assert isinstance(raw, bytes)
    return int.from_bytes(raw, "big", signed=True)


def _element_path(cells: list[tuple[bytes, bytes]], index: int, doing: str) -> bytes:
    if not cells:
        raise InvalidRequestError(f"Attempted to {doing} a list which is null")
    if not 0 <= index < len(cells):
        raise InvalidRequestError(f"List index {index} out of bound, list has size {len(cells)}")
    return cells[index][0]


# --- DELETE -------------------------------------------------------------------------------


def deletion_cells(
    deletions: Sequence[Deletion],
    column: ColumnMetadata,
    evaluator: Evaluator,
    existing: Existing,
    timestamp: int,
) -> MultiCellWrite | None:
    """What a DELETE of a non-frozen column (whole, ``c[k]`` or ``c.f``) writes."""
    dtype = column.type
    if any(d.element is None and d.field is None for d in deletions):
        return MultiCellWrite((), timestamp)
    cells: list[ElementCell] = []
    for deletion in deletions:
        if deletion.field is not None:
            if dtype.code is not TypeCode.UDT:
                raise InvalidRequestError(
                    f"Invalid field deletion operation for non-UDT column {column.name}"
                )
            if deletion.field not in dtype.field_names:
                raise InvalidRequestError(
                    f"UDT column {column.name} does not have a field named {deletion.field}"
                )
            position = dtype.field_names.index(deletion.field)
            cells.append(field_cell(position, None, len(dtype.params)))
            continue
        assert deletion.element is not None
        if dtype.code not in (TypeCode.LIST, TypeCode.SET, TypeCode.MAP):
            raise InvalidRequestError(
                f"Invalid deletion operation for non collection column {column.name}"
            )
        if dtype.code is TypeCode.LIST:
            index = _list_index(deletion.element, column, evaluator)
            if index is not None:
                path = _element_path(existing(), index, "delete an element from")
                cells.append((path, None))
            continue
        key_type = dtype.params[0]
        key = evaluator.value(deletion.element, key_type, column.name)
        if dtype.code is TypeCode.MAP:
            cells.append(map_cell(_map_key(key), None, key_type))
            continue
        if key is None:
            raise InvalidRequestError("Invalid null set element")
        if isinstance(key, bytes):
            cells.append((set_cell(key, key_type)[0], None))
    return MultiCellWrite(tuple(cells)) if cells else None
