"""How value converters say what went wrong: what was expected, what came, and where.

Messages read ``expected an int (32-bit) but got 'abc'``; inside collections, tuples and user
types the place follows: ``... but got 'x' (at [2].street)``.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

from cassflow.copy._model import ConversionError

# Long values are cut in messages: a quarantine entry carries the whole record anyway.
_MAX_SHOWN: Final = 80


def shown(value: Any) -> str:
    """A value as a message shows it: strings quoted, other types named, long ones cut."""
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    if isinstance(value, str):
        return text
    return f"{text} ({type(value).__name__})"


def expected(description: str, value: Any, why: str | None = None) -> ConversionError:
    """``expected <description> but got <value>[: why]``."""
    message = f"expected {description} but got {shown(value)}"
    return ConversionError(f"{message}: {why}" if why else message)


def fail(description: str, value: Any, why: str | None = None) -> NoReturn:
    """Raise :func:`expected`."""
    raise expected(description, value, why)


class _PlacedError(ConversionError):
    """A conversion error inside a nested value, with the path to the element."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(f"{reason} (at {path})")
        self.reason = reason
        self.path = path


def placed(error: ConversionError, step: str) -> ConversionError:
    """``error`` one level further out: ``step`` (``[2]``, ``.street``, ``[key 'k']``) is
    prepended to its path."""
    if isinstance(error, _PlacedError):
        return _PlacedError(error.reason, step + error.path)
    return _PlacedError(str(error), step)


__all__ = ["expected", "fail", "placed", "shown"]
