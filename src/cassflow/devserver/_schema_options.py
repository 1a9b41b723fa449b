"""Table options and keyspace replication, validated and normalized as Cassandra 4.1 does.

``CREATE/ALTER TABLE ... WITH`` and ``CREATE/ALTER KEYSPACE ... WITH replication`` arrive here
as the parser read them (strings, numbers, booleans, maps of those) and leave in the form
``system_schema`` shows: full class names, every default filled in, values as text where
Cassandra keeps text. Errors carry Cassandra's messages and say which CQL error they are by
class (the executor maps :class:`SchemaInvalidError` to Invalid, :class:`SchemaConfigError`
to ConfigError, and so on).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any, NoReturn

from cassflow.errors import CassflowError

# --- errors -----------------------------------------------------------------------------------


class SchemaError(CassflowError):
    """Base of schema errors; ``str(error)`` is the message Cassandra would send."""


class SchemaInvalidError(SchemaError):
    """The statement is invalid (CQL Invalid, 0x2200)."""


class SchemaConfigError(SchemaError):
    """An option value is invalid (CQL ConfigError, 0x2300)."""


class SchemaSyntaxError(SchemaError):
    """An unknown property or an unparsable property value (CQL SyntaxError, 0x2000)."""


class SchemaUnauthorizedError(SchemaError):
    """A system keyspace may not be changed this way (CQL Unauthorized, 0x2100)."""


class SchemaAlreadyExistsError(SchemaError):
    """The keyspace or table exists (CQL AlreadyExists, 0x2400); ``table`` is "" for a keyspace."""

    def __init__(self, keyspace: str, table: str = "") -> None:
        if table:
            message = f'Cannot add already existing table "{table}" to keyspace "{keyspace}"'
        else:
            message = f'Cannot add existing keyspace "{keyspace}"'
        super().__init__(message)
        self.keyspace = keyspace
        self.table = table


# --- table options ----------------------------------------------------------------------------

STCS = "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy"
LCS = "org.apache.cassandra.db.compaction.LeveledCompactionStrategy"
TWCS = "org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy"
LZ4 = "org.apache.cassandra.io.compress.LZ4Compressor"

_COMPACTION_PACKAGE = "org.apache.cassandra.db.compaction."
_COMPACTION_CLASSES = frozenset(
    _COMPACTION_PACKAGE + name
    for name in (
        "SizeTieredCompactionStrategy",
        "LeveledCompactionStrategy",
        "TimeWindowCompactionStrategy",
        "DateTieredCompactionStrategy",
    )
)
#: The options each bundled strategy's validateOptions understands (AbstractCompactionStrategy's
#: own, then the strategy's; LCS, TWCS and DTCS also take SizeTiered's). 5.0's additions to the
#: common options are accepted too, so that schemas written for either version load.
_COMMON_COMPACTION_OPTIONS = frozenset(
    {
        "tombstone_threshold",
        "tombstone_compaction_interval",
        "unchecked_tombstone_compaction",
        "log_all",
        "enabled",
        "only_purge_repaired_tombstones",
        "provide_overlapping_tombstones",
        "min_threshold",
        "max_threshold",
    }
)
_STCS_OPTIONS = _COMMON_COMPACTION_OPTIONS | {"min_sstable_size", "bucket_low", "bucket_high"}
_COMPACTION_OPTIONS: dict[str, frozenset[str]] = {
    "SizeTieredCompactionStrategy": _STCS_OPTIONS,
    "LeveledCompactionStrategy": _STCS_OPTIONS
    | {"sstable_size_in_mb", "fanout_size", "single_sstable_uplevel"},
    "TimeWindowCompactionStrategy": _STCS_OPTIONS
    | {
        "compaction_window_unit",
        "compaction_window_size",
        "timestamp_resolution",
        "expired_sstable_check_frequency_seconds",
        "unsafe_aggressive_sstable_expiration",
    },
    "DateTieredCompactionStrategy": _STCS_OPTIONS
    | {
        "timestamp_resolution",
        "max_sstable_age_days",
        "base_time_seconds",
        "max_window_size_seconds",
        "expired_sstable_check_frequency_seconds",
    },
}
_COMPRESSION_PACKAGE = "org.apache.cassandra.io.compress."
_COMPRESSION_CLASSES = frozenset(
    _COMPRESSION_PACKAGE + name
    for name in (
        "LZ4Compressor",
        "SnappyCompressor",
        "DeflateCompressor",
        "ZstdCompressor",
        "NoopCompressor",
    )
)

DEFAULT_CACHING = {"keys": "ALL", "rows_per_partition": "NONE"}
DEFAULT_COMPACTION = {"class": STCS, "max_threshold": "32", "min_threshold": "4"}
DEFAULT_COMPRESSION = {"chunk_length_in_kb": "16", "class": LZ4}

#: BloomCalculations.minSupportedBloomFilterFpChance(), as Java prints the double.
_MIN_BLOOM_FP_CHANCE = 6.71e-05
#: Attributes.MAX_TTL: 20 years.
MAX_TTL = 630720000
#: Properties Cassandra 4.x still accepts and ignores.
_OBSOLETE = frozenset(
    {
        "index_interval",
        "replicate_on_write",
        "populate_io_cache_on_flush",
        "read_repair_chance",
        "dclocal_read_repair_chance",
    }
)

PropertyValue = str | int | float | bool | Decimal | Mapping[str, str | int | float | bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class TableOptions:
    """Every table option Cassandra 4.1 keeps in ``system_schema.tables``, with its default.

    Maps hold text values in Cassandra's form (``{'class': 'org...LZ4Compressor',
    'chunk_length_in_kb': '16'}``). ``read_repair_chance`` and ``dclocal_read_repair_chance``
    are not options any more (4.x ignores them and writes 0.0); ``cdc`` and ``memtable`` are
    options whose ``system_schema`` cells stay null on a node with cdc disabled and the default
    memtable, as Cassandra writes them.
    """

    additional_write_policy: str = "99p"
    bloom_filter_fp_chance: float = 0.01
    caching: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CACHING))
    cdc: bool = False
    comment: str = ""
    compaction: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COMPACTION))
    compression: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COMPRESSION))
    crc_check_chance: float = 1.0
    default_time_to_live: int = 0
    extensions: Mapping[str, bytes] = field(default_factory=dict)
    gc_grace_seconds: int = 864000
    max_index_interval: int = 2048
    memtable: str = "default"
    memtable_flush_period_in_ms: int = 0
    min_index_interval: int = 128
    read_repair: str = "BLOCKING"
    speculative_retry: str = "99p"

    def with_changes(self, changes: Mapping[str, PropertyValue]) -> TableOptions:
        """These options with ``WITH name = value`` properties applied and validated."""
        updates: dict[str, Any] = {}
        for name, value in changes.items():
            if name in _OBSOLETE:
                continue
            parser = _PARSERS.get(name)
            if parser is None:
                raise SchemaSyntaxError(f"Unknown property '{name}'")
            updates[name] = parser(name, value)
        options = replace(self, **updates)
        options.validate()
        return options

    def validate(self) -> None:
        """Range checks of ``TableParams.validate``."""
        if not _MIN_BLOOM_FP_CHANCE < self.bloom_filter_fp_chance <= 1:
            minimum = _java_double(_MIN_BLOOM_FP_CHANCE)
            _fail(
                f"bloom_filter_fp_chance must be larger than {minimum} and less than or equal to "
                f"1.0 (got {_java_double(self.bloom_filter_fp_chance)})"
            )
        if not 0 <= self.crc_check_chance <= 1:
            _fail(
                "crc_check_chance must be larger than or equal to 0 and smaller than or equal "
                f"to 1.0 (got {_java_double(self.crc_check_chance)})"
            )
        if self.default_time_to_live < 0:
            _fail(
                "default_time_to_live must be greater than or equal to 0 "
                f"(got {self.default_time_to_live})"
            )
        if self.default_time_to_live > MAX_TTL:
            _fail(
                f"default_time_to_live must be less than or equal to {MAX_TTL} "
                f"(got {self.default_time_to_live})"
            )
        if self.gc_grace_seconds < 0:
            _fail(
                f"gc_grace_seconds must be greater than or equal to 0 (got {self.gc_grace_seconds})"
            )
        if self.min_index_interval < 1:
            _fail(
                "min_index_interval must be greater than or equal to 1 "
                f"(got {self.min_index_interval})"
            )
        if self.max_index_interval < self.min_index_interval:
            _fail(
                "max_index_interval must be greater than or equal to min_index_interval "
                f"({self.min_index_interval}) (got {self.max_index_interval})"
            )
        if self.memtable_flush_period_in_ms < 0:
            _fail(
                "memtable_flush_period_in_ms must be greater than or equal to 0 "
                f"(got {self.memtable_flush_period_in_ms})"
            )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (extension values as hex)."""
        data = asdict(self)
        data["extensions"] = {k: v.hex() for k, v in self.extensions.items()}
        for name in ("caching", "compaction", "compression"):
            data[name] = dict(data[name])
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableOptions:
        """The inverse of :meth:`to_json`; options absent from ``data`` take their default."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "extensions" in known:
            known["extensions"] = {k: bytes.fromhex(v) for k, v in known["extensions"].items()}
        return cls(**known)


def _fail(message: str) -> NoReturn:
    raise SchemaConfigError(message)


def _java_double(value: float) -> str:
    """``Double.toString``: plain between 1e-3 and 1e7, else ``d.dddE-n``."""
    value = float(value)
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(value)
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    power = int(exponent) + len(text) - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


def _text(name: str, value: PropertyValue) -> str:
    if isinstance(value, Mapping):
        raise SchemaSyntaxError(f"Invalid value for property '{name}'. It should be a string")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_string(name: str, value: PropertyValue) -> str:
    return _text(name, value)


def _as_int(name: str, value: PropertyValue) -> int:
    text = _text(name, value)
    try:
        return int(text)
    except ValueError:
        raise SchemaSyntaxError(f"Invalid integer value {text} for '{name}'") from None


def _as_double(name: str, value: PropertyValue) -> float:
    text = _text(name, value)
    try:
        return float(text)
    except ValueError:
        raise SchemaSyntaxError(f"Invalid double value {text} for '{name}'") from None


def _as_boolean(name: str, value: PropertyValue) -> bool:
    text = _text(name, value).lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise SchemaSyntaxError(
        f"Invalid boolean value {_text(name, value)} for '{name}'. "
        "Positive values can be '1', 'true', 'yes'. Negative values can be '0', 'false', 'no'."
    )


def _as_map(name: str, value: PropertyValue) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise SchemaSyntaxError(f"Invalid value for property '{name}'. It should be a map.")
    return {str(k): _text(name, v) for k, v in value.items()}


def _sorted(options: Mapping[str, str]) -> dict[str, str]:
    # Frozen map cells come back sorted by key (UTF-8 byte order = code point order).
    return dict(sorted(options.items()))


def _parse_caching(name: str, value: PropertyValue) -> dict[str, str]:
    options = _as_map(name, value)
    keys = options.pop("keys", None)
    rows = options.pop("rows_per_partition", None)
    if options:
        unknown = "[" + ", ".join(options) + "]"
        _fail(
            f"Invalid caching sub-options {unknown}: only 'keys' and 'rows_per_partition' "
            "are allowed"
        )
    keys_value = "NONE"
    if keys is not None:
        if keys.upper() not in ("ALL", "NONE"):
            _fail(
                f"Invalid value '{keys}' for caching sub-option 'keys': only 'ALL' and 'NONE' "
                "are allowed"
            )
        keys_value = keys.upper()
    rows_value = "NONE"
    if rows is not None:
        if rows.upper() in ("ALL", "NONE"):
            rows_value = rows.upper()
        elif rows.isdigit():
            rows_value = "NONE" if int(rows) == 0 else str(int(rows))
        else:
            _fail(
                f"Invalid value '{rows}' for caching sub-option 'rows_per_partition': only "
                "'ALL', 'NONE', and integer values are allowed"
            )
    return {"keys": keys_value, "rows_per_partition": rows_value}


def _parse_compaction(name: str, value: PropertyValue) -> dict[str, str]:
    options = _as_map(name, value)
    class_name = options.get("class")
    if class_name is None:
        _fail("Missing sub-option 'class' for the 'compaction' option")
    full = class_name if "." in class_name else _COMPACTION_PACKAGE + class_name
    if full not in _COMPACTION_CLASSES:
        _fail(f"Unable to find compaction strategy class '{full}'")
    unknown = sorted(set(options) - {"class"} - _COMPACTION_OPTIONS[full.rsplit(".", 1)[1]])
    if unknown:
        # CompactionParams.validate: what the strategy's validateOptions leaves over.
        _fail(
            f"Properties specified [{', '.join(unknown)}] are not understood by "
            f"{full.rsplit('.', 1)[1]}"
        )
    options["class"] = full
    # CompactionParams.create fills the thresholds every bundled strategy understands.
    options.setdefault("min_threshold", "4")
    options.setdefault("max_threshold", "32")
    return _sorted(options)


def _parse_compression(name: str, value: PropertyValue) -> dict[str, str]:
    options = _as_map(name, value)
    enabled = _as_boolean("enabled", options.pop("enabled", "true"))
    if "sstable_compression" in options:  # the pre-3.0 name of 'class'
        options.setdefault("class", options.pop("sstable_compression"))
    if not enabled:
        if options:
            _fail("If the 'enabled' option is set to false no other options must be specified")
        return {"enabled": "false"}
    if not options:
        return {"enabled": "false"}
    class_name = options.pop("class", None)
    if class_name is None:
        _fail("Missing sub-option 'class' for the 'compression' option.")
    full = class_name if "." in class_name else _COMPRESSION_PACKAGE + class_name
    if full not in _COMPRESSION_CLASSES:
        _fail(f"Could not create Compression for type {full}")
    chunk = options.pop("chunk_length_in_kb", "16")
    if not chunk.isdigit() or int(chunk) <= 0:
        _fail(f"Invalid value {chunk} for sub-option 'chunk_length_in_kb'")
    if int(chunk) & (int(chunk) - 1):
        _fail("chunk_length_in_kb must be a power of 2")
    options["class"] = full
    options["chunk_length_in_kb"] = str(int(chunk))
    return _sorted(options)


def _parse_extensions(name: str, value: PropertyValue) -> dict[str, bytes]:
    return {k: v.encode() for k, v in _as_map(name, value).items()}


def _parse_memtable(name: str, value: PropertyValue) -> str:
    text = _as_string(name, value)
    if text != "default":
        _fail(f'Memtable configuration "{text}" not found.')
    return text


def _parse_read_repair(name: str, value: PropertyValue) -> str:
    text = _as_string(name, value).upper()
    if text not in ("BLOCKING", "NONE"):
        _fail(f"Invalid value {_as_string(name, value)} for option '{name}'")
    return text


_PERCENTILE = re.compile(r"([0-9.]+)p(ercentile)?", re.IGNORECASE)
_FIXED = re.compile(r"([0-9.]+)ms", re.IGNORECASE)
_HYBRID = re.compile(r"(MIN|MAX)\((.+),(.+)\)", re.IGNORECASE)


def _speculative_policy(text: str) -> str | None:
    """``SpeculativeRetryPolicy.fromString(text).toString()``, or None if it does not parse."""
    stripped = text.strip()
    upper = stripped.upper()
    if upper == "ALWAYS":
        return "ALWAYS"
    if upper in ("NEVER", "NONE"):
        return "NEVER"
    match = _PERCENTILE.fullmatch(stripped)
    if match:
        try:
            percentile = Decimal(match.group(1))
        except ArithmeticError:
            return None
        if not 0 <= percentile <= 100:
            return None
        # DecimalFormat("#.####")
        formatted = f"{percentile.quantize(Decimal('0.0001')).normalize():f}"
        return f"{formatted}p"
    match = _FIXED.fullmatch(stripped)
    if match:
        try:
            return f"{int(Decimal(match.group(1)))}ms"
        except ArithmeticError:
            return None
    match = _HYBRID.fullmatch(stripped)
    if match:
        first, second = _speculative_policy(match.group(2)), _speculative_policy(match.group(3))
        if first is None or second is None:
            return None
        return f"{match.group(1).upper()}({first},{second})"
    return None


def _parse_speculative(name: str, value: PropertyValue) -> str:
    text = _as_string(name, value)
    policy = _speculative_policy(text)
    if policy is None:
        # Cassandra names speculative_retry whichever option was given.
        _fail(f"Invalid value {text} for option 'speculative_retry'")
    return policy


_PARSERS: dict[str, Any] = {
    "additional_write_policy": _parse_speculative,
    "bloom_filter_fp_chance": _as_double,
    "caching": _parse_caching,
    "cdc": _as_boolean,
    "comment": _as_string,
    "compaction": _parse_compaction,
    "compression": _parse_compression,
    "crc_check_chance": _as_double,
    "default_time_to_live": _as_int,
    "extensions": _parse_extensions,
    "gc_grace_seconds": _as_int,
    "max_index_interval": _as_int,
    "memtable": _parse_memtable,
    "memtable_flush_period_in_ms": _as_int,
    "min_index_interval": _as_int,
    "read_repair": _parse_read_repair,
    "speculative_retry": _parse_speculative,
}

# --- replication ------------------------------------------------------------------------------

LOCATOR = "org.apache.cassandra.locator."
SIMPLE_STRATEGY = LOCATOR + "SimpleStrategy"
NETWORK_TOPOLOGY_STRATEGY = LOCATOR + "NetworkTopologyStrategy"
LOCAL_STRATEGY = LOCATOR + "LocalStrategy"
_STRATEGIES = frozenset(
    {SIMPLE_STRATEGY, NETWORK_TOPOLOGY_STRATEGY, LOCAL_STRATEGY, LOCATOR + "EverywhereStrategy"}
)


@dataclass(frozen=True, slots=True)
class Replication:
    """A validated replication map (``system_schema.keyspaces.replication``) and its warnings."""

    options: dict[str, str]
    warnings: tuple[str, ...] = ()


def replication_class(options: Mapping[str, object]) -> str:
    """The full strategy class of a replication map (ConfigError if missing or unknown)."""
    class_name = options.get("class")
    if class_name is None:
        raise SchemaConfigError("Missing replication strategy class")
    name = str(class_name)
    full = name if "." in name else LOCATOR + name
    if full not in _STRATEGIES:
        raise SchemaConfigError(f"Unable to find replication strategy class '{full}'")
    return full


def validate_replication(
    keyspace: str,
    options: Mapping[str, str | int],
    *,
    datacenters: Mapping[str, int],
    previous: Mapping[str, str] | None = None,
) -> Replication:
    """``ReplicationParams.fromMap`` + ``validate`` of Cassandra 4.1.

    ``datacenters`` maps each data center of the cluster to its node count (RF warnings and
    NetworkTopologyStrategy's check of DC names need them); ``previous`` is the keyspace's
    current map on ALTER (NTS auto-expansion keeps existing DCs).
    """
    full = replication_class(options)
    if full == LOCAL_STRATEGY:
        raise SchemaInvalidError(
            "Unable to use given strategy class: LocalStrategy is reserved for internal use."
        )
    given = {str(k): _text(str(k), v) for k, v in options.items() if k != "class"}
    prev = {k: v for k, v in (previous or {}).items() if k != "class"}
    strategy = full.rsplit(".", 1)[1]
    warnings: list[str] = []
    if full == SIMPLE_STRATEGY:
        if "replication_factor" not in given and "replication_factor" in prev:
            given["replication_factor"] = prev["replication_factor"]
        _check_recognized(keyspace, strategy, given, {"replication_factor"})
        if "replication_factor" not in given:
            raise SchemaConfigError("SimpleStrategy requires a replication_factor strategy option.")
        rf = _replication_factor(given["replication_factor"])
        nodes = sum(datacenters.values())
        if rf > nodes and nodes:
            warnings.append(
                f"Your replication factor {rf} for keyspace {keyspace} is higher than the "
                f"number of nodes {nodes}"
            )
    elif full == NETWORK_TOPOLOGY_STRATEGY:
        default = given.pop("replication_factor", None)
        if default is None and not given:
            default = prev.get("replication_factor")
        elif default is not None:
            for dc, value in prev.items():
                if dc != "replication_factor":
                    given.setdefault(dc, value)
        if default is not None:
            _replication_factor(default)
            for dc in datacenters:
                given.setdefault(dc, default)
        given = {dc: value for dc, value in given.items() if value != "0"}
        if not given:
            raise SchemaConfigError("Configuration for at least one datacenter must be present")
        _check_recognized(keyspace, strategy, given, set(datacenters))
        for dc, value in given.items():
            rf = _replication_factor(value)
            nodes = datacenters.get(dc, 0)
            if rf > nodes and nodes:
                warnings.append(
                    f"Your replication factor {rf} for keyspace {keyspace} is higher than the "
                    f"number of nodes {nodes} for datacenter {dc}"
                )
    return Replication(_sorted({"class": full, **given}), tuple(warnings))


def _check_recognized(
    keyspace: str, strategy: str, given: Mapping[str, str], known: set[str]
) -> None:
    for key in given:
        if key not in known:
            raise SchemaConfigError(
                f"Unrecognized strategy option {{{key}}} passed to {strategy} "
                f"for keyspace {keyspace}"
            )


def _replication_factor(text: str) -> int:
    try:
        rf = int(text)
    except ValueError:
        raise SchemaConfigError(f"Replication factor must be numeric; found {text}") from None
    if rf < 0:
        raise SchemaConfigError(f"Replication factor must be non-negative; found {text}")
    return rf
