"""The ``cassflow`` command line: parses arguments, calls the parts, holds no logic.

Every module ``cli/_<name>.py`` registers its commands on :data:`app` when imported; all of
them are imported here, so a new command needs no edit of this file. The modules import
their heavy parts inside the commands, so ``cassflow --help`` stays fast.
"""

import importlib
import pkgutil

from cassflow.cli._app import app, main

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module.startswith("_") and _module != "_app":
        importlib.import_module(f"{__name__}.{_module}")

__all__ = ["app", "main"]
