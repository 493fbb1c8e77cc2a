"""Namespace schemas: JSON Schema validation of values, strict mode, and migrators.

A namespace can carry a JSON Schema (draft 4, 6 or 7; compiled with ``fastjsonschema``). The
document may be Claude-Flow's configuration (``{"memory": {"schemas": {"definitions": {...}}}}``
or ``{"definitions": {...}}``: the ``name`` picks the definition values must match, and ``$ref``
may point at any definition) or a single schema. Every write to the namespace (``store``,
``store_many``, ``import_``) is checked first, and a violating value is refused with the
validator's message (:class:`~mindbank.errors.SchemaViolationError`); nothing is written.

**Strict** mode refuses unknown fields: every object schema that lists ``properties`` and says
nothing about ``additionalProperties`` gets ``additionalProperties: false``.

**Migrators** upgrade old value formats on load: functions registered for a namespace in this
process (``mb.register_migrator(namespace, fn)``) are applied in order to a value read from
the namespace that does not match its schema, until it does; the stored value is unchanged
until ``mb.migrate_values(namespace)`` rewrites the namespace.

Schemas are read once and again only when any process changes one (a counter moves).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from mindbank.errors import SchemaViolationError, ValidationError, shown

__all__ = ["NamespaceSchemas", "normalize", "strictify"]

Validator = Callable[[Any], Any]
Migrator = Callable[[Any], Any]


def normalize(document: Any, name: str | None) -> tuple[str, dict[str, Any]]:
    """``(definition name, {"definitions": {...}})`` from what a user gives.

    Raises:
        ValidationError: not a schema document, or an unknown or missing definition name.
    """
    if not isinstance(document, Mapping):
        raise ValidationError("a schema must be a JSON object")
    doc: Any = document
    if isinstance(doc.get("memory"), Mapping):
        doc = doc["memory"]
    if isinstance(doc.get("schemas"), Mapping):
        doc = doc["schemas"]
    defs = doc.get("definitions")
    if isinstance(defs, Mapping) and "type" not in doc and "properties" not in doc:
        if not defs:
            raise ValidationError("the schema document has no definitions")
        if name is None:
            if len(defs) != 1:
                raise ValidationError(
                    f"the document defines {', '.join(sorted(defs))}: say which one "
                    "values must match"
                )
            name = next(iter(defs))
        if name not in defs:
            raise ValidationError(
                f"no definition {shown(name)} in the document (it has {', '.join(sorted(defs))})"
            )
        return name, {"definitions": dict(defs)}
    # a single schema: its own definitions stay with it
    # (its "#/definitions/..." references resolve at the top of the stored document)
    label = name or str(doc.get("title") or "schema")
    own = dict(defs) if isinstance(defs, Mapping) else {}
    return label, {"definitions": {**own, label: dict(doc)}}


MAX_SCHEMA_NODES = 10_000
"""Most objects, arrays and values a schema document may hold."""
MAX_SCHEMA_DEPTH = 64
"""Deepest nesting of a schema document."""
MAX_PATTERN_LENGTH = 1_000
"""Longest regular expression (``pattern``, ``patternProperties``) a schema may hold."""
# a repeated group (an innermost one) whose content begins with a repeated atom, or has
# alternatives: (a+)+, (\w+\s?)*, (a|aa)*: the shapes whose backtracking is exponential in
# the length of a value that almost matches. (-[a-z]+)* begins with a literal: linear.
_GROUP = re.compile(r"\(((?:[^()\\]|\\.)*)\)\s*(?:[+*]|\{\d*,)")
_FIRST_ATOM = re.compile(
    r"(?:\?[:=!]|\?<?[=!]|\?P?<\w+>)?(?:\\.|\[(?:[^\]\\]|\\.)*\]|[^\\])([+*?{])?"
)


def _backtracks(pattern: str) -> bool:
    """Whether a pattern has a repeated group of the shapes that backtrack exponentially."""
    for group in _GROUP.finditer(pattern):
        content = group.group(1)
        if "|" in content.replace("\\|", ""):
            return True
        first = _FIRST_ATOM.match(content)
        if first is not None and first.group(1):
            return True
    return False


def check_document(document: Any) -> None:
    """Refuse what a schema could use to reach outside the machine or to stall a writer:
    a ``$ref`` that is not a fragment of the document itself (``#/definitions/...``), an
    ``$id``/``id`` that would make one resolve elsewhere, more than :data:`MAX_SCHEMA_NODES`
    nodes or :data:`MAX_SCHEMA_DEPTH` levels, and patterns longer than
    :data:`MAX_PATTERN_LENGTH` or with nested quantifiers (catastrophic backtracking).

    Raises:
        ValidationError: naming what was refused.
    """
    nodes = 0
    stack: list[tuple[Any, int, str]] = [(document, 0, "")]
    while stack:
        node, depth, where = stack.pop()
        nodes += 1
        if nodes > MAX_SCHEMA_NODES:
            raise ValidationError(f"the schema has more than {MAX_SCHEMA_NODES:,} nodes")
        if depth > MAX_SCHEMA_DEPTH:
            raise ValidationError(f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                raise ValidationError(
                    f"$ref {ref[:200]!r} at {where or '/'} points outside the schema: only "
                    "references into the document itself (#/definitions/...) are followed, "
                    "never a URL or a file"
                )
            for key in ("$id", "id"):
                if isinstance(node.get(key), str) and not str(node[key]).startswith("#"):
                    raise ValidationError(
                        f"{key} {str(node[key])[:200]!r} at {where or '/'} would resolve "
                        "references outside the schema: leave it out"
                    )
            patterns: list[str] = (
                [str(node["pattern"])] if isinstance(node.get("pattern"), str) else []
            )
            if isinstance(node.get("patternProperties"), Mapping):
                patterns += [k for k in node["patternProperties"] if isinstance(k, str)]
            for pattern in patterns:
                if len(pattern) > MAX_PATTERN_LENGTH or _backtracks(pattern):
                    raise ValidationError(
                        f"pattern {pattern[:200]!r} at {where or '/'} is refused: "
                        + ("it is too long" if len(pattern) > MAX_PATTERN_LENGTH else
                           "a repeated group that begins with a repeated part (or has "
                           "alternatives) can take exponential time on a value that almost "
                           "matches; rewrite it (e.g. with a separator first)")
                    )  # fmt: skip
            stack.extend((v, depth + 1, f"{where}/{k}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, depth + 1, f"{where}/{i}") for i, v in enumerate(node))


def _no_remote(uri: str) -> Any:
    raise ValidationError(f"the schema refers to {uri[:200]!r}: schemas never fetch anything")


def strictify(schema: Any) -> Any:
    """A copy where object schemas with ``properties`` and no ``additionalProperties`` get
    ``additionalProperties: false``."""
    out = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(out)
    return out


def compile_schema(name: str, document: Mapping[str, Any], strict: bool) -> Validator:
    """A validator for the definition ``name`` of the document.

    Raises:
        ValidationError: the schema itself is invalid.
    """
    import fastjsonschema

    root = {"$ref": f"#/definitions/{name}", "definitions": dict(document["definitions"])}
    check_document(root)  # also a schema stored before these checks existed
    if strict:
        root = strictify(root)
    refuse = dict.fromkeys(("", "http", "https", "file", "ftp", "data", "urn"), _no_remote)
    try:
        validator: Validator = fastjsonschema.compile(root, handlers=refuse)
        return validator
    except (fastjsonschema.JsonSchemaDefinitionException, re.error, RecursionError) as exc:
        raise ValidationError(f"the schema {shown(name)} is invalid: {exc}") from None


class NamespaceSchemas:
    """The schemas of one database, compiled and cached, and this process's migrators."""

    def __init__(
        self,
        read_version: Callable[[], Hashable],
        read_all: Callable[[], dict[str, tuple[str, dict[str, Any], bool, int, float]]],
    ):
        self._read_version = read_version
        self._read_all = read_all
        self._version: Hashable = None
        self._rows: dict[str, tuple[str, dict[str, Any], bool, int, float]] = {}
        self._validators: dict[str, Validator] = {}
        self.migrators: dict[str, list[Migrator]] = {}

    def refresh(self) -> dict[str, tuple[str, dict[str, Any], bool, int, float]]:
        """The schemas by namespace, read again if any process changed one."""
        version = self._read_version()
        if version != self._version:
            self._rows = self._read_all()
            self._validators = {}
            self._version = version
        return self._rows

    def validator(self, namespace: str) -> Validator | None:
        """The namespace's validator, or None if it has no schema."""
        rows = self.refresh()
        row = rows.get(namespace)
        if row is None:
            return None
        v = self._validators.get(namespace)
        if v is None:
            v = self._validators[namespace] = compile_schema(row[0], row[1], row[2])
        return v

    def check(self, values: Sequence[tuple[str, str, Any]]) -> None:
        """Validate ``(namespace, key, value)`` triples against their namespaces' schemas.

        Raises:
            SchemaViolationError: naming the first value that does not match.
        """
        rows = self.refresh()
        if not rows:
            return
        import fastjsonschema

        for namespace, key, value in values:
            if namespace not in rows:
                continue
            v = self.validator(namespace)
            assert v is not None
            try:
                v(value)
            except fastjsonschema.JsonSchemaValueException as exc:
                raise SchemaViolationError(
                    f"{shown(key)} in namespace {shown(namespace)} does not match schema "
                    f"{rows[namespace][0]!r}: {exc.message}"
                ) from None

    def valid(self, namespace: str, value: Any) -> bool:
        """Whether a value matches its namespace's schema (True without one)."""
        import fastjsonschema

        v = self.validator(namespace)
        if v is None:
            return True
        try:
            v(value)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def upgrade(self, namespace: str, value: Any) -> Any:
        """A value read from the namespace, upgraded by its migrators if it does not match
        the schema (unchanged if it matches, or if no migrator makes it match)."""
        chain = self.migrators.get(namespace)
        if not chain or self.valid(namespace, value):
            return value
        current = value
        for fn in chain:
            try:
                current = fn(copy.deepcopy(current))
            except Exception as exc:  # a user's function: say which one failed, and why
                raise ValidationError(
                    f"migrator {getattr(fn, '__name__', fn)!r} of namespace {shown(namespace)} "
                    f"failed: {exc}"
                ) from exc
            if self.valid(namespace, current):
                return current
        return value
