"""The executor: runs QUERY, PREPARE, EXECUTE and BATCH requests against schema and storage.

It parses each distinct statement once (a bounded cache), keeps prepared statements by id
(an MD5 of keyspace and text, as Cassandra derives it), authorizes with the role manager when
authentication is on, and answers with the RESULT or ERROR Cassandra would send.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from cassflow.cql import (
    AlterKeyspace,
    AlterTable,
    AlterType,
    CqlInvalidError,
    CqlSyntaxError,
    CreateIndex,
    CreateKeyspace,
    CreateTable,
    CreateType,
    Delete,
    Describe,
    DropIndex,
    DropKeyspace,
    DropTable,
    DropType,
    Insert,
    Permission,
    Select,
    Statement,
    Truncate,
    Update,
    Use,
    classify,
    parse_statement,
)
from cassflow.cql import (
    Batch as BatchStatementAst,
)
from cassflow.devserver._auth import (
    AuthInvalidError,
    AuthUnauthorizedError,
    Resource,
    RoleManager,
)
from cassflow.devserver._availability import check_available, check_serial_available
from cassflow.devserver._batch_limits import batch_warnings, recording
from cassflow.devserver._batches import (
    BatchItem,
    check_batch,
    evaluate_conditional_batch,
    unconditional,
)
from cassflow.devserver._binds import batch_bind_specs, bind_specs, partition_key_indexes
from cassflow.devserver._compaction import CompactionSimulator
from cassflow.devserver._conditions import check_write_consistency, is_conditional
from cassflow.devserver._ddl import apply_ddl
from cassflow.devserver._describe import describe
from cassflow.devserver._disabled_ddl import run_disabled
from cassflow.devserver._errors import (
    AlreadyExistsError,
    ConfigurationError,
    InvalidRequestError,
    RequestError,
    SyntaxProblemError,
    UnauthorizedError,
    UnpreparedError,
)
from cassflow.devserver._insert import InsertPlan, plan_insert
from cassflow.devserver._keycodec import KeyCodecError
from cassflow.devserver._modify import delete, insert, update
from cassflow.devserver._roles import run_role_statement
from cassflow.devserver._schema import Schema, TableMetadata
from cassflow.devserver._schema_options import (
    SchemaAlreadyExistsError,
    SchemaConfigError,
    SchemaError,
    SchemaSyntaxError,
    SchemaUnauthorizedError,
)
from cassflow.devserver._select import result_columns, select
from cassflow.devserver._server import ClientSession, Outcome
from cassflow.devserver._storage import Storage
from cassflow.devserver._system_tables import ClientInfo, NodeInfo, system_rows
from cassflow.devserver._tracing import TracedRequest, trace_inserts
from cassflow.devserver._using import write_timestamp
from cassflow.devserver._values import Evaluator
from cassflow.protocol import (
    Batch,
    ColumnSpec,
    Consistency,
    Execute,
    Message,
    Prepare,
    PreparedMetadata,
    PreparedResult,
    Query,
    QueryParameters,
    RowsMetadata,
    RowsResult,
    SchemaChangeResult,
    SetKeyspaceResult,
    Value,
    VoidResult,
)

_SCHEMA_KEY = "schema"
_HOST_ID_KEY = "host_id"
_STATEMENT_CACHE = 2048
_SYSTEM_READABLE = frozenset({"system", "system_schema", "system_virtual_schema", "system_views"})


@dataclass(frozen=True, slots=True)
class Prepared:
    """A prepared statement as the node keeps it."""

    query: str
    keyspace: str | None
    statement: Statement
    variables: tuple[ColumnSpec, ...]
    pk_indexes: tuple[int, ...]
    columns: tuple[ColumnSpec, ...]
    result_metadata_id: bytes
    #: How many bind markers the statement has (the values an EXECUTE must bring).
    bind_count: int = 0
    #: The id the client executes it by.
    query_id: bytes = b""


def _metadata_id(columns: Sequence[ColumnSpec]) -> bytes:
    digest = hashlib.md5(usedforsecurity=False)
    for c in columns:
        digest.update(f"{c.keyspace}.{c.table}.{c.name}:{c.type.cql()};".encode())
    return digest.digest()


class Executor:
    """Runs requests for one node; call from the server's event loop thread only."""

    def __init__(
        self,
        storage: Storage,
        *,
        roles: RoleManager | None = None,
        compaction: CompactionSimulator | None = None,
    ) -> None:
        self.storage = storage
        self.roles = roles
        self.compaction = compaction or CompactionSimulator()
        stored = storage.get_meta(_SCHEMA_KEY)
        self.schema = Schema.from_json(stored.decode()) if stored else Schema.initial()
        host_id = storage.get_meta(_HOST_ID_KEY)
        if host_id is None:
            host_id = uuid.uuid4().bytes
            storage.put_meta(_HOST_ID_KEY, host_id)
        self.node = NodeInfo(host_id=uuid.UUID(bytes=host_id))
        self._statements: OrderedDict[str, Statement] = OrderedDict()
        self._prepared: dict[bytes, Prepared] = {}
        # INSERT plans of prepared statements; they hold table metadata, so DDL drops them.
        self._insert_plans: dict[bytes, InsertPlan] = {}
        self._last_timestamp = 0
        self._lock = threading.Lock()
        self._sessions: Any = None

    def attach(self, server: Any, devserver: Any) -> None:
        """Learn the listening address (system.local) and where to find the clients."""
        from dataclasses import replace  # noqa: PLC0415

        self._sessions = server.sessions
        self.node = replace(
            self.node,
            rpc_address=devserver.host,
            rpc_port=devserver.port,
            listen_address=devserver.host,
        )

    # --- helpers ---------------------------------------------------------------------------

    def _parse(self, text: str) -> Statement:
        statement = self._statements.get(text)
        if statement is not None:
            self._statements.move_to_end(text)
            return statement
        try:
            statement = parse_statement(text)
        except CqlSyntaxError as exc:
            raise SyntaxProblemError(str(exc)) from None
        except CqlInvalidError as exc:
            raise InvalidRequestError(str(exc)) from None
        self._statements[text] = statement
        if len(self._statements) > _STATEMENT_CACHE:
            self._statements.popitem(last=False)
        return statement

    def _timestamp(self, params_timestamp: int | None) -> int:
        if params_timestamp is not None:
            return params_timestamp
        # Server-side timestamps must increase even within one microsecond, or two quick
        # writes to the same cell would tie.
        now = time.time_ns() // 1000
        self._last_timestamp = max(now, self._last_timestamp + 1)
        return self._last_timestamp

    def _table(self, keyspace: str | None, name: str) -> TableMetadata:
        if keyspace is None:
            raise InvalidRequestError(
                "No keyspace has been specified. USE a keyspace, or explicitly specify "
                "keyspace.tablename"
            )
        if self.schema.keyspace(keyspace) is None:
            raise InvalidRequestError(f"Keyspace {keyspace} does not exist")
        table = self.schema.table(keyspace, name)
        if table is None:
            raise InvalidRequestError(f"table {name} does not exist")
        return table

    def _authorize_table(
        self, session: ClientSession, permission: Permission, table: TableMetadata
    ) -> None:
        # The hot path of every read and write: no resource to build when auth is off.
        if self.roles is None or session.username is None:
            return
        self._authorize(session, permission, Resource.of_table(table.keyspace, table.name))

    def _authorize(
        self, session: ClientSession, permission: Permission, resource: Resource
    ) -> None:
        if self.roles is None or session.username is None:
            return
        if resource.keyspace in _SYSTEM_READABLE and permission is Permission.SELECT:
            return
        try:
            self.roles.authorize(session.username, permission, resource)
        except AuthUnauthorizedError as exc:
            raise UnauthorizedError(str(exc)) from None

    def _statement_keyspace(self, statement: Statement, session_keyspace: str | None) -> str | None:
        table = getattr(statement, "table", None)
        if table is not None and getattr(table, "keyspace", None):
            return str(table.keyspace)
        return session_keyspace

    # --- the RequestHandler protocol -------------------------------------------------------

    def target(
        self, session: ClientSession, message: Message
    ) -> tuple[str | None, str | None, str | None]:
        """The CQL text, keyspace and table of a request (for fault rules)."""
        text = None
        keyspace = session.keyspace
        if isinstance(message, Query | Prepare):
            text = message.query
        elif isinstance(message, Execute):
            prepared = self._prepared.get(message.query_id)
            if prepared is not None:
                text = prepared.query
                keyspace = prepared.keyspace
        elif isinstance(message, Batch):
            text = "; ".join(
                s.statement
                if isinstance(s.statement, str)
                else (self._prepared[s.statement].query if s.statement in self._prepared else "")
                for s in message.statements
            )
        if text is None:
            return None, keyspace, None
        try:
            statement = self._parse(text)
        except RequestError:
            return text, keyspace, None
        info = classify(statement)
        return text, info.keyspace or keyspace, info.table

    def handle(self, session: ClientSession, message: Message) -> Outcome:
        """Run one request; errors become ERROR messages."""
        try:
            with self._lock:
                if not self.storage.in_transaction:
                    return self._handle(session, message)
                # In the server's group transaction: a savepoint, so that a failing statement
                # undoes its own writes and nobody else's.
                with self.storage.transaction():
                    return self._handle(session, message)
        except RequestError as exc:
            return Outcome(message=exc.to_message())
        except (SchemaError, KeyCodecError, AuthInvalidError) as exc:
            return Outcome(message=_schema_error(exc).to_message())

    def trace(
        self,
        session: ClientSession,
        message: Message,
        outcome: Outcome,
        started_at: float,
        duration_us: int,
    ) -> uuid.UUID:
        """Record a traced request in system_traces; returns its tracing session id."""
        text, _keyspace, table = self.target(session, message)
        request = TracedRequest(
            message=message,
            query=text,
            table=table,
            result=outcome.message,
            client=session.address,
            coordinator=self.node.broadcast_address or self.node.listen_address,
            coordinator_port=self.node.broadcast_port or self.node.listen_port,
            started_at=started_at,
            duration_us=duration_us,
        )
        session_id, inserts = trace_inserts(request)
        # Tracing writes as the node itself: no role, no permission checks.
        internal = ClientSession(connection_id=-1, address=session.address, port=0)
        savepoint = self.storage.transaction() if self.storage.in_transaction else nullcontext()
        with self._lock, savepoint:
            for cql in inserts:
                self._run(internal, parse_statement(cql), QueryParameters(), None)
        return session_id

    def _handle(self, session: ClientSession, message: Message) -> Outcome:
        if isinstance(message, Query):
            statement = self._parse(message.query)
            return self._run(session, statement, message.parameters, None)
        if isinstance(message, Prepare):
            return self._prepare(session, message)
        if isinstance(message, Execute):
            prepared = self._prepared.get(message.query_id)
            if prepared is None:
                raise UnpreparedError(message.query_id)
            keyspace_override = prepared.keyspace
            return self._run(
                session,
                prepared.statement,
                message.parameters,
                prepared,
                keyspace=keyspace_override,
            )
        if isinstance(message, Batch):
            return self._batch(session, message)
        raise InvalidRequestError(f"Unexpected {message.opcode.name}")

    # --- PREPARE ---------------------------------------------------------------------------

    def _prepare(self, session: ClientSession, message: Prepare) -> Outcome:
        statement = self._parse(message.query)
        keyspace = message.keyspace or session.keyspace
        info = classify(statement)
        query_id = hashlib.md5(
            ((keyspace or "") + message.query).encode(), usedforsecurity=False
        ).digest()
        variables: tuple[ColumnSpec, ...] = ()
        pk_indexes: tuple[int, ...] = ()
        columns: tuple[ColumnSpec, ...] = ()
        if isinstance(statement, Select | Insert | Update | Delete):
            table = self._table(statement.table.keyspace or keyspace, statement.table.name)
            variables = bind_specs(statement, table, info.bind_count)
            pk_indexes = partition_key_indexes(statement, table)
            if isinstance(statement, Select):
                columns = result_columns(statement, table)
            # A conditional write's columns depend on what it finds, so Cassandra prepares it
            # with no result metadata and sends the metadata with every answer (CASSANDRA-13992).
        elif isinstance(statement, BatchStatementAst):
            tables = [
                self._table(inner.table.keyspace or keyspace, inner.table.name)
                for inner in statement.statements
            ]
            variables = batch_bind_specs(statement, tables, info.bind_count)
        elif info.bind_count:
            raise InvalidRequestError("Bind variables are not allowed in this statement")
        metadata_id = _metadata_id(columns)
        self._prepared[query_id] = Prepared(
            query=message.query,
            keyspace=keyspace,
            statement=statement,
            variables=variables,
            pk_indexes=pk_indexes,
            columns=columns,
            result_metadata_id=metadata_id,
            bind_count=info.bind_count,
            query_id=query_id,
        )
        self._insert_plans.pop(query_id, None)
        version = session.protocol_version or 4
        return Outcome(
            message=PreparedResult(
                query_id=query_id,
                result_metadata_id=metadata_id if version >= 5 else None,
                metadata=PreparedMetadata(
                    columns=variables,
                    partition_key_indexes=pk_indexes if version >= 4 else (),
                ),
                result_metadata=(
                    RowsMetadata.of(columns) if columns else RowsMetadata(column_count=0)
                ),
            )
        )

    # --- running statements ----------------------------------------------------------------

    def _values(
        self, params: QueryParameters, prepared: Prepared | None, statement: Statement
    ) -> list[Value]:
        values = list(params.values)
        if params.names is not None:
            if prepared is not None:
                names = [v.name for v in prepared.variables]
            else:
                names = [str(m) for m in classify(statement).bind_names]
            by_name = dict(zip(params.names, values, strict=True))
            ordered: list[Value] = []
            for name in names:
                if name not in by_name:
                    raise InvalidRequestError(f"Invalid named value: no value for {name}")
                ordered.append(by_name[name])
            values = ordered
        expected = prepared.bind_count if prepared is not None else classify(statement).bind_count
        if len(values) != expected:
            raise InvalidRequestError(
                f"There were {expected} markers(?) in CQL but {len(values)} bound variables"
            )
        return values

    def _run(
        self,
        session: ClientSession,
        statement: Statement,
        params: QueryParameters,
        prepared: Prepared | None,
        *,
        keyspace: str | None = None,
    ) -> Outcome:
        session_keyspace = params.keyspace or keyspace or session.keyspace
        values = self._values(params, prepared, statement)
        evaluator = Evaluator(values)
        now = int(time.time()) if params.now_in_seconds is None else params.now_in_seconds
        if isinstance(statement, Select):
            return self._select(
                session, statement, params, prepared, evaluator, session_keyspace, now
            )
        if isinstance(statement, Insert | Update | Delete):
            table = self._table(statement.table.keyspace or session_keyspace, statement.table.name)
            self._authorize_table(session, Permission.MODIFY, table)
            conditional = is_conditional(statement)
            check_write_consistency(
                table, conditional, params.consistency, params.serial_consistency
            )
            self._check_available(table, params.consistency, params.serial_consistency, conditional)
            plan = self._insert_plan(prepared, statement, table)
            return self._modify(
                statement, table, evaluator, self._timestamp(params.timestamp), now, plan
            )
        if isinstance(statement, BatchStatementAst):
            return self._batch_text(session, statement, evaluator, params, session_keyspace, now)
        if isinstance(statement, Use):
            if self.schema.keyspace(statement.keyspace) is None:
                raise InvalidRequestError(f"Keyspace '{statement.keyspace}' does not exist")
            session.keyspace = statement.keyspace
            return Outcome(message=SetKeyspaceResult(keyspace=statement.keyspace))
        if isinstance(statement, Truncate):
            table = self._table(statement.table.keyspace or session_keyspace, statement.table.name)
            self._authorize_table(session, Permission.MODIFY, table)
            self.storage.truncate(str(table.id))
            return Outcome(message=VoidResult())
        if isinstance(statement, _DDL_STATEMENTS):
            return self._ddl(session, statement, session_keyspace)
        if isinstance(statement, Describe):
            # DescribeStatement needs no permission: anyone connected may describe.
            result = describe(
                statement,
                self.schema,
                self.node,
                session_keyspace,
                page_size=params.page_size,
                paging_state=params.paging_state,
            )
            return Outcome(message=result)
        if run_disabled(statement, session_keyspace, self.schema):
            return Outcome(message=VoidResult())
        if self.roles is not None or type(statement).__module__.endswith("_ast_auth"):
            return run_role_statement(self.roles, session, statement)
        raise InvalidRequestError(
            f"The dev server does not support {type(statement).__name__} statements yet"
        )

    def _check_available(
        self,
        table: TableMetadata,
        consistency: Consistency,
        serial: Consistency | None,
        conditional: bool,
    ) -> None:
        """Unavailable when this one node cannot serve the level for ``table``'s keyspace:
        the Paxos quorum for conditional writes and serial reads, else the level itself."""
        keyspace = self.schema.keyspace(table.keyspace)
        if keyspace is None:
            return
        if conditional:
            check_serial_available(serial or Consistency.SERIAL, keyspace, self.node.data_center)
        else:
            check_available(consistency, keyspace, self.node.data_center)

    def _select(
        self,
        session: ClientSession,
        statement: Select,
        params: QueryParameters,
        prepared: Prepared | None,
        evaluator: Evaluator,
        keyspace: str | None,
        now: int,
    ) -> Outcome:
        table = self._table(statement.table.keyspace or keyspace, statement.table.name)
        self._authorize_table(session, Permission.SELECT, table)
        if params.consistency is Consistency.ANY:
            raise InvalidRequestError("ANY ConsistencyLevel is only supported for writes")
        serial = params.consistency in (Consistency.SERIAL, Consistency.LOCAL_SERIAL)
        self._check_available(table, params.consistency, None, serial)
        generated = system_rows(
            table.keyspace,
            table.name,
            schema=self.schema,
            node=self.node,
            clients=self._clients(),
            settings=None,
            compaction=self.compaction.state() if table.keyspace == "system_views" else None,
        )
        page = select(
            statement,
            table,
            evaluator,
            storage=self.storage,
            generated=generated,
            page_size=params.page_size,
            paging_state=params.paging_state,
            now=now,
            serial=serial,
        )
        skip = params.skip_metadata and prepared is not None
        metadata = RowsMetadata(
            column_count=len(page.columns),
            columns=None if skip else page.columns,
            paging_state=page.paging_state,
        )
        return Outcome(
            message=RowsResult(metadata=metadata, rows=tuple(page.rows)), warnings=page.warnings
        )

    def _clients(self) -> list[ClientInfo]:
        if self._sessions is None:
            return []
        return [
            ClientInfo(
                address=s.address,
                port=s.port,
                username=s.username,
                connection_stage=s.stage,
                protocol_version=s.protocol_version,
                client_options=s.client_options,
                driver_name=s.driver_name,
                driver_version=s.driver_version,
                request_count=s.requests,
                keyspace=s.keyspace,
            )
            for s in self._sessions()
        ]

    def _insert_plan(
        self, prepared: Prepared | None, statement: Statement, table: TableMetadata
    ) -> InsertPlan | None:
        """The kept plan of a prepared INSERT on ``table`` (made on first use), else None."""
        if prepared is None or not isinstance(statement, Insert):
            return None
        query_id = prepared.query_id
        plan = self._insert_plans.get(query_id)
        if plan is None or plan.table is not table:
            plan = plan_insert(statement, table)  # raises, and keeps nothing, if it is invalid
            self._insert_plans[query_id] = plan
        return plan

    def _modify(
        self,
        statement: Insert | Update | Delete,
        table: TableMetadata,
        evaluator: Evaluator,
        timestamp: int,
        now: int,
        plan: InsertPlan | None = None,
    ) -> Outcome:
        cells = (
            len(statement.columns)
            if isinstance(statement, Insert)
            else (len(statement.operations) if isinstance(statement, Update) else 1)
        )
        self.compaction.record_writes(table.keyspace, table.name, cells + 1)
        if isinstance(statement, Insert):
            result = insert(
                statement,
                table,
                evaluator,
                self.storage,
                default_timestamp=timestamp,
                now=now,
                plan=plan,
            )
        elif isinstance(statement, Update):
            result = update(
                statement, table, evaluator, self.storage, default_timestamp=timestamp, now=now
            )
        else:
            result = delete(
                statement, table, evaluator, self.storage, default_timestamp=timestamp, now=now
            )
        if not is_conditional(statement):
            return Outcome(message=VoidResult())
        return Outcome(message=result.message(table))

    def _batch_text(
        self,
        session: ClientSession,
        statement: BatchStatementAst,
        evaluator: Evaluator,
        params: QueryParameters,
        keyspace: str | None,
        now: int,
    ) -> Outcome:
        default = self._timestamp(params.timestamp)
        base = write_timestamp(statement.using.timestamp, evaluator, default)
        items = []
        for inner in statement.statements:
            table = self._table(inner.table.keyspace or keyspace, inner.table.name)
            self._authorize_table(session, Permission.MODIFY, table)
            items.append((BatchItem(inner, table, evaluator), None))
        timestamp_set = statement.using.timestamp is not None
        return self._run_batch(
            statement.kind.name,
            items,
            base,
            now,
            timestamp_set=timestamp_set,
            consistency=(params.consistency, params.serial_consistency),
        )

    def _run_batch(
        self,
        kind: str,
        items: Sequence[tuple[BatchItem, InsertPlan | None]],
        timestamp: int,
        now: int,
        *,
        timestamp_set: bool,
        consistency: tuple[Consistency, Consistency | None],
    ) -> Outcome:
        """Check a batch as Cassandra does, then apply it (a conditional one if it holds)."""
        check_batch(kind, [item for item, _ in items], timestamp_set=timestamp_set)
        conditional = any(is_conditional(item.statement) for item, _ in items)
        for table in {str(item.table.id): item.table for item, _ in items}.values():
            self._check_available(table, *consistency, conditional)
        with self.storage.transaction():
            if conditional:
                check_write_consistency(items[0][0].table, True, *consistency)
                result = evaluate_conditional_batch([item for item, _ in items], self.storage, now)
                if result.applied:
                    for item, _ in items:
                        plain = unconditional(item.statement)
                        self._modify(plain, item.table, item.evaluator, timestamp, now)
                return Outcome(message=result.message(items[0][0].table))
            with recording(self.storage) as writes:
                for item, plan in items:
                    self._modify(item.statement, item.table, item.evaluator, timestamp, now, plan)
            tables = {str(item.table.id): item.table for item, _ in items}
            warnings = batch_warnings(kind, writes, tables)  # "Batch too large" rolls back
        return Outcome(message=VoidResult(), warnings=warnings)

    def _batch(self, session: ClientSession, message: Batch) -> Outcome:
        now = int(time.time()) if message.now_in_seconds is None else message.now_in_seconds
        timestamp = self._timestamp(message.timestamp)
        keyspace = message.keyspace or session.keyspace
        items: list[tuple[BatchItem, InsertPlan | None]] = []
        for item in message.statements:
            prepared: Prepared | None = None
            if isinstance(item.statement, bytes):
                prepared = self._prepared.get(item.statement)
                if prepared is None:
                    raise UnpreparedError(item.statement)
                statement, ks = prepared.statement, prepared.keyspace or keyspace
            else:
                statement, ks = self._parse(item.statement), keyspace
            if not isinstance(statement, Insert | Update | Delete):
                raise InvalidRequestError(
                    "Invalid statement in batch: only UPDATE, INSERT and DELETE statements "
                    "are allowed."
                )
            table = self._table(statement.table.keyspace or ks, statement.table.name)
            self._authorize_table(session, Permission.MODIFY, table)
            expected = (
                prepared.bind_count if prepared is not None else classify(statement).bind_count
            )
            if len(item.values) != expected:
                raise InvalidRequestError(
                    f"There were {expected} markers(?) in CQL but {len(item.values)} bound "
                    "variables"
                )
            plan = self._insert_plan(prepared, statement, table)
            items.append((BatchItem(statement, table, Evaluator(item.values)), plan))
        kind = message.batch_type.name
        consistency = (message.consistency, message.serial_consistency)
        return self._run_batch(
            kind, items, timestamp, now, timestamp_set=False, consistency=consistency
        )

    # --- DDL -------------------------------------------------------------------------------

    def _ddl(self, session: ClientSession, statement: Statement, keyspace: str | None) -> Outcome:
        resource, permission = _ddl_permission(statement, keyspace)
        self._authorize(session, permission, resource)
        update = apply_ddl(self.schema, statement, keyspace)
        if update.change is None:
            return Outcome(message=VoidResult(), warnings=update.warnings)
        old = self.schema
        self.schema = update.schema
        self.storage.put_meta(_SCHEMA_KEY, self.schema.to_json().encode())
        self._after_ddl(session, statement, old)
        return Outcome(
            message=SchemaChangeResult(change=update.change),
            warnings=update.warnings,
            schema_change=update.change,
        )

    def _after_ddl(self, session: ClientSession, statement: Statement, old: Schema) -> None:
        # Dropped tables lose their data; prepared statements on them must be re-prepared.
        for keyspace in old.keyspaces.values():
            for table in keyspace.tables.values():
                current = self.schema.table(keyspace.name, table.name)
                if current is None or current.id != table.id:
                    self.storage.drop_table(str(table.id))
                    self.compaction.forget(keyspace.name, table.name)
                    if self.roles is not None:
                        self.roles.drop_resource(Resource.of_table(keyspace.name, table.name))
            if self.schema.keyspace(keyspace.name) is None and self.roles is not None:
                self.roles.drop_resource(Resource.of_keyspace(keyspace.name))
        self._prepared.clear()
        self._insert_plans.clear()
        if self.roles is not None and session.username is not None:
            created = None
            if isinstance(statement, CreateKeyspace):
                created = Resource.of_keyspace(statement.keyspace)
            elif isinstance(statement, CreateTable):
                ks = statement.table.keyspace or session.keyspace
                if ks is not None:
                    created = Resource.of_table(ks, statement.table.name)
            if created is not None and not self.roles.is_superuser(session.username):
                self.roles.grant(None, None, created, session.username)


_DDL_STATEMENTS = (
    CreateKeyspace,
    AlterKeyspace,
    DropKeyspace,
    CreateTable,
    AlterTable,
    DropTable,
    CreateType,
    AlterType,
    DropType,
    CreateIndex,
    DropIndex,
)


def _ddl_permission(statement: Statement, keyspace: str | None) -> tuple[Resource, Permission]:
    if isinstance(statement, CreateKeyspace):
        return Resource.all_keyspaces(), Permission.CREATE
    if isinstance(statement, AlterKeyspace):
        return Resource.of_keyspace(statement.keyspace), Permission.ALTER
    if isinstance(statement, DropKeyspace):
        return Resource.of_keyspace(statement.keyspace), Permission.DROP
    if isinstance(statement, CreateType | AlterType | DropType):
        # CREATE/ALTER/DROP permission on all the tables of the keyspace.
        permission = {CreateType: Permission.CREATE, AlterType: Permission.ALTER}.get(
            type(statement), Permission.DROP
        )
        return Resource.of_keyspace(statement.name.keyspace or keyspace or ""), permission
    if isinstance(statement, CreateIndex):
        ks = statement.table.keyspace or keyspace or ""
        return Resource.of_table(ks, statement.table.name), Permission.ALTER
    if isinstance(statement, DropIndex):
        # Cassandra checks ALTER on the index's table; the keyspace level is the nearest
        # resource known before the index is looked up.
        return Resource.of_keyspace(statement.name.keyspace or keyspace or ""), Permission.ALTER
    assert isinstance(statement, CreateTable | AlterTable | DropTable)
    ks = statement.table.keyspace or keyspace or ""
    if isinstance(statement, CreateTable):
        return Resource.of_keyspace(ks), Permission.CREATE
    permission = Permission.ALTER if isinstance(statement, AlterTable) else Permission.DROP
    return Resource.of_table(ks, statement.table.name), permission


def _schema_error(exc: Exception) -> RequestError:
    if isinstance(exc, SchemaAlreadyExistsError):
        return AlreadyExistsError(exc.keyspace, exc.table)
    if isinstance(exc, SchemaConfigError):
        return ConfigurationError(str(exc))
    if isinstance(exc, SchemaUnauthorizedError):
        return UnauthorizedError(str(exc))
    if isinstance(exc, SchemaSyntaxError):
        return SyntaxProblemError(str(exc))
    return InvalidRequestError(str(exc))


__all__ = ["Executor", "Prepared"]
