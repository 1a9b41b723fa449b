"""The root of every error cassflow raises on purpose.

Each part of cassflow hangs its own subtree below :class:`CassflowError`, so a caller can
catch everything cassflow means to raise with one ``except`` and still tell the parts apart.
Retry decisions are made by class, never by matching message text.
"""


class CassflowError(Exception):
    """Base class of all errors raised deliberately by cassflow."""
