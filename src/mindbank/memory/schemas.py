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
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from mindbank.errors import SchemaViolationError, ValidationError

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
                f"no definition {name!r} in the document (it has {', '.join(sorted(defs))})"
            )
        return name, {"definitions": dict(defs)}
    # a single schema: its own definitions stay with it
    label = name or str(doc.get("title") or "schema")
    return label, {"definitions": {label: dict(doc)}}


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
    if strict:
        root = strictify(root)
    try:
        validator: Validator = fastjsonschema.compile(root)
        return validator
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise ValidationError(f"the schema {name!r} is invalid: {exc}") from None


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
                    f"{key!r} in namespace {namespace!r} does not match schema "
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
                    f"migrator {getattr(fn, '__name__', fn)!r} of namespace {namespace!r} "
                    f"failed: {exc}"
                ) from exc
            if self.valid(namespace, current):
                return current
        return value
