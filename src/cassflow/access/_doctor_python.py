"""``cassflow doctor`` on Airflow DAG files: checks on the Python syntax tree.

The file is parsed with :mod:`ast`, never imported or executed, so a DAG file with side
effects or missing dependencies is checked as safely as any other. Names are followed through
the file's imports (``from cassandra.cluster import Cluster as C`` makes ``C(...)`` a hand-built
cluster), not guessed from spelling, where the rule is about a specific library object.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from cassflow.access._doctor_rules import (
    URL_FIX,
    Finding,
    batch_problem,
    finding,
    is_credential_name,
    is_literal_secret,
    retry_problem,
    tls_problem,
    url_credentials,
)

_CLUSTER = "cassandra.cluster.Cluster"
_SECRET_FIX = (
    "read it when the task runs: from an Airflow connection or template "
    '("{{ conn.shop.password }}") or with cassflow.access.resolve_secrets'
    '("${secret:vault:kv/shop#password}"); then rotate the exposed value'
)
_KEYSPACE_FIX = (
    'cluster.connect("<keyspace>"), or better a cassflow connection bound to the keyspace'
)
_STATEMENT_METHODS = frozenset({"execute", "execute_async", "prepare"})


def lint_python(path: str, text: str) -> list[Finding]:
    """The findings in one Python (DAG) file."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        line, column = exc.lineno or 1, exc.offset or 1
        return [finding(path, line, column, "syntax-error", f"not valid Python: {exc.msg}")]
    checker = _Checker(path, tree)
    checker.visit(tree)
    # A literal may break two checks of one rule (a password= keyword holding a URL).
    unique = {(f.line, f.column, f.rule): f for f in checker.findings}
    return list(unique.values())


def _literal(node: ast.expr | None) -> object:
    """The value of a constant expression; None for anything computed at run time."""
    return node.value if isinstance(node, ast.Constant) else None


def _is_formatted(node: ast.expr) -> bool:
    """Whether ``node`` builds a string from run-time values (f-string, %, +, .format)."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        sides = (node.left, node.right)
        has_text = any(
            (isinstance(s, ast.Constant) and isinstance(s.value, str)) or _is_formatted(s)
            for s in sides
        )
        return has_text and not all(isinstance(s, ast.Constant) for s in sides)
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
        and bool(node.args or node.keywords)
    )


class _Checker(ast.NodeVisitor):
    """Walks one module once; knows its imports, its clusters and sessions, and loop depth."""

    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.findings: list[Finding] = []
        self.imports: dict[str, str] = {}
        self.star: set[str] = set()
        self.clusters: set[str] = set()
        self.sessions: set[str] = set()
        self.loops = 0
        #: Calls into cassflow being visited (their ``verify`` is not TLS's).
        self.in_cassflow = 0
        self._scan(tree)

    # -- what names stand for -------------------------------------------------------------

    def _scan(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    self.imports[local] = alias.name if alias.asname else local
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name == "*":
                        self.star.add(node.module)
                    else:
                        self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        # Then names bound to clusters (they need the imports), then to their sessions.
        bindings = [pair for node in ast.walk(tree) for pair in _bindings(node)]
        self.clusters.update(target for target, value in bindings if self._is_cluster(value))
        self.sessions.update(target for target, value in bindings if self._is_connect(value))

    def _qualname(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.imports.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self._qualname(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def _is_cluster(self, node: ast.expr | None) -> bool:
        if not isinstance(node, ast.Call):
            return False
        name = self._qualname(node.func)
        return name == _CLUSTER or (name == "Cluster" and "cassandra.cluster" in self.star)

    def _is_connect(self, node: ast.expr | None) -> bool:
        """``<cluster>.connect(...)``: a cluster built here, or named so (not sqlite3's)."""
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "connect"
        ):
            return False
        receiver = node.func.value
        name = self._qualname(receiver) or ""
        return (
            self._is_cluster(receiver)
            or (isinstance(receiver, ast.Name) and receiver.id in self.clusters)
            or "cluster" in name.rsplit(".", 1)[-1].lower()
        )

    def _is_session(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.sessions or "session" in node.id.lower()
        if isinstance(node, ast.Attribute):
            return "session" in node.attr.lower()
        return self._is_connect(node)

    def _is_cassflow(self, node: ast.Call) -> bool:
        name = self._qualname(node.func)
        return name is not None and name.startswith("cassflow.")

    def _add(self, node: ast.AST, rule: str, message: str) -> None:
        line, column = getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1
        fix = {"plaintext-credential": _SECRET_FIX, "no-keyspace": _KEYSPACE_FIX}.get(rule, "")
        if rule == "plaintext-credential" and "URL" in message:
            fix = URL_FIX
        self.findings.append(finding(self.path, line, column, rule, message, fix))

    # -- loops ----------------------------------------------------------------------------

    def _in_loop(self, nodes: Sequence[ast.AST]) -> None:
        self.loops += 1
        for node in nodes:
            self.visit(node)
        self.loops -= 1

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        """The iterable runs once; the body once per item."""
        self.visit(node.target)
        self.visit(node.iter)
        self._in_loop(node.body)
        for statement in node.orelse:
            self.visit(statement)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        """As a for loop."""
        self.visit_For(node)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        for generator in node.generators:
            self.visit(generator.iter)
        self._in_loop([node.elt, *(c for g in node.generators for c in g.ifs)])

    def visit_ListComp(self, node: ast.ListComp) -> None:
        """The element runs once per item."""
        self._comprehension(node)

    def visit_SetComp(self, node: ast.SetComp) -> None:
        """The element runs once per item."""
        self._comprehension(node)

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        """The element runs once per item."""
        self._comprehension(node)

    def visit_DictComp(self, node: ast.DictComp) -> None:
        """Like the other comprehensions, with a key and a value per item."""
        for generator in node.generators:
            self.visit(generator.iter)
        self._in_loop([node.key, node.value, *(c for g in node.generators for c in g.ifs)])

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """A function defined in a loop does not run per item where it is defined."""
        loops, self.loops = self.loops, 0
        self.generic_visit(node)
        self.loops = loops

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        """As a function."""
        self.visit_FunctionDef(node)

    # -- the checks -----------------------------------------------------------------------

    def visit_Expr(self, node: ast.Expr) -> None:
        """A bare string statement is a docstring or comment: example URLs may stand there."""
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        """Any string literal: a URL with a literal password."""
        if isinstance(node.value, str) and (url := url_credentials(node.value)) is not None:
            self._add(
                node,
                "plaintext-credential",
                f"a URL or connection string with a literal password ({url})",
            )

    def visit_Attribute(self, node: ast.Attribute) -> None:
        """Library constants that switch off verification or durability."""
        name = self._qualname(node)
        if name == "ssl.CERT_NONE":
            self._add(node, "insecure-tls", "ssl.CERT_NONE accepts any server certificate")
        elif name is not None and name.endswith("ConsistencyLevel.ANY"):
            self._add(node, "consistency-any", "ConsistencyLevel.ANY")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        """``PASSWORD = "..."`` and ``context.check_hostname = False``."""
        for target in node.targets:
            self._assignment(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        """``password: str = "..."``."""
        self._assignment(node.target, node.value)
        self.generic_visit(node)

    def _assignment(self, target: ast.expr, value: ast.expr | None) -> None:
        name = (
            target.id
            if isinstance(target, ast.Name)
            else target.attr
            if isinstance(target, ast.Attribute)
            else None
        )
        if name is not None and value is not None:
            # ``verify: bool = False`` declares a field; ``ctx.check_hostname = False`` acts.
            self._setting(value, name, f"{name} =", tls=isinstance(target, ast.Attribute))

    def visit_Dict(self, node: ast.Dict) -> None:
        """``{"password": "..."}``, e.g. a connection's extras."""
        for key, value in zip(node.keys, node.values, strict=True):
            name = _literal(key)
            if isinstance(name, str):
                self._setting(value, name, f"key {name!r}", tls=self._tls_key(name))
        self.generic_visit(node)

    def _tls_key(self, name: str) -> bool:
        """Whether ``name`` is about TLS here: cassflow's ``verify`` reads a copy back."""
        return not (self.in_cassflow and name == "verify")

    def _setting(self, value: ast.expr, name: str, label: str, *, tls: bool = True) -> None:
        """Checks on ``name`` set to the expression ``value`` (keyword, key or variable)."""
        literal = _literal(value)
        if is_credential_name(name) and is_literal_secret(literal, name):
            self._add(value, "plaintext-credential", f"{label} holds a literal secret")
        problem = tls_problem(name, literal) if tls else None
        if problem is not None:
            self._add(value, "insecure-tls", problem)
        if name.startswith("consistency") and isinstance(literal, str) and literal.upper() == "ANY":
            self._add(value, "consistency-any", f"{label} is ANY")

    def visit_Call(self, node: ast.Call) -> None:
        """Calls: clusters, sessions, statements, auth providers and cassflow's own API."""
        name = self._qualname(node.func) or ""
        if self._is_cluster(node):
            self._add(node, "hand-built-cluster", "Cluster(...) built by hand")
        if name == "ssl._create_unverified_context":
            self._add(node, "insecure-tls", "ssl._create_unverified_context() verifies nothing")
        password = node.args[1] if len(node.args) >= 2 else None  # (username, password)
        if (
            name.endswith("PlainTextAuthProvider")
            and password is not None
            and is_literal_secret(_literal(password), "password")
        ):
            self._add(password, "plaintext-credential", "the password is a literal")
        if isinstance(node.func, ast.Attribute):
            self._method_call(node, node.func)
        if name.endswith("SimpleStatement") and node.args and _is_formatted(node.args[0]):
            self._add(node.args[0], "cql-string-formatting", "statement built by formatting")
        cassflow = self._is_cassflow(node)
        self.in_cassflow += cassflow
        for keyword in node.keywords:
            if keyword.arg is not None:
                label = f"keyword {keyword.arg!r}"
                self._setting(keyword.value, keyword.arg, label, tls=self._tls_key(keyword.arg))
                if cassflow:
                    self._copy_setting(keyword.value, keyword.arg)
        if cassflow:
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                self._copy_settings_in(argument)
        self.generic_visit(node)
        self.in_cassflow -= cassflow

    def _copy_settings_in(self, argument: ast.expr) -> None:
        """Settings in dicts handed to cassflow, e.g. ``copy={"slice_attempts": 1}``."""
        for inner in ast.walk(argument):
            if isinstance(inner, ast.Dict):
                for key, value in zip(inner.keys, inner.values, strict=True):
                    name = _literal(key)
                    if isinstance(name, str):
                        self._copy_setting(value, name)

    def _method_call(self, node: ast.Call, func: ast.Attribute) -> None:
        receiver = func.value
        if func.attr == "connect" and not node.args:
            unbound = not any(k.arg == "keyspace" for k in node.keywords)
            is_cluster = self._is_cluster(receiver) or (
                isinstance(receiver, ast.Name) and receiver.id in self.clusters
            )
            if unbound and is_cluster:
                self._add(node, "no-keyspace", "connect() without a keyspace")
        if func.attr in _STATEMENT_METHODS and self._is_session(receiver):
            statement = node.args[0] if node.args else None
            for keyword in node.keywords:
                if keyword.arg in {"query", "statement"}:
                    statement = keyword.value
            if statement is not None and _is_formatted(statement):
                self._add(statement, "cql-string-formatting", "statement built by formatting")
            if func.attr == "execute" and self.loops:
                self._add(node, "per-row-execute", "session.execute(...) inside a loop")

    def _copy_setting(self, value: ast.expr, name: str) -> None:
        """Batch and retry settings handed to cassflow."""
        literal = _literal(value)
        for rule, problem in (
            ("batch-too-large", batch_problem(name, literal)),
            ("no-retries", retry_problem(name, literal)),
        ):
            if problem is not None:
                self._add(value, rule, problem)


def _bindings(node: ast.AST) -> list[tuple[str, ast.expr | None]]:
    """(name, value) pairs a statement binds: ``x = ...``, ``x: T = ...``, ``with ... as x``."""
    if isinstance(node, ast.Assign):
        return [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [(node.target.id, node.value)]
    if isinstance(node, ast.With | ast.AsyncWith):
        return [
            (item.optional_vars.id, item.context_expr)
            for item in node.items
            if isinstance(item.optional_vars, ast.Name)
        ]
    return []
