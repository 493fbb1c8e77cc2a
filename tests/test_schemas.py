"""Namespace schemas: the reference's definitions, strict mode, migrators, other processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import mindbank
from mindbank import MindBank, SchemaViolationError, ValidationError

from .conftest import raw_rows, run_mindbank

# The reference's schemas.definitions (advanced-memory-patterns.md), as written there.
REFERENCE = {
    "memory": {
        "schemas": {
            "validation": True,
            "strict": True,
            "definitions": {
                "user": {
                    "type": "object",
                    "required": ["id", "email", "createdAt"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "email": {"type": "string", "format": "email"},
                        "profile": {"type": "object", "properties": {
                            "name": {"type": "string"},
                            "avatar": {"type": "string", "format": "uri"}}},
                        "createdAt": {"type": "string", "format": "date-time"},
                    },
                },
                "task": {
                    "type": "object",
                    "required": ["id", "title", "status"],
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string", "minLength": 1, "maxLength": 200},
                        "status": {"enum": ["pending", "in_progress", "completed"]},
                        "assignedTo": {"$ref": "#/definitions/user/properties/id"},
                    },
                },
            },
        }
    }
}  # fmt: skip
UUID = "123e4567-e89b-12d3-a456-426614174000"
TASK = {"id": "t1", "title": "write docs", "status": "pending", "assignedTo": UUID}


@pytest.fixture
def db_path(both_db: Path | str) -> Path | str:
    """Every test that opens a database runs on SQLite and on PostgreSQL."""
    return both_db


def test_values_are_checked_against_the_namespace_schema(mb: MindBank, tmp_path: Path) -> None:
    mb.store("old", {"id": "t0", "title": "", "status": "lost"}, namespace="tasks")
    info = mb.set_schema("tasks", REFERENCE, name="task")
    assert (info.name, info.version, info.strict, info.violations) == ("task", 1, False, 1)
    assert set(info.definitions) == {"user", "task"}
    mb.store("t1", TASK, namespace="tasks")
    for bad, why in (
        ({**TASK, "status": "done"}, "status must be one of"),
        ({**TASK, "assignedTo": "not-a-uuid"}, "must be uuid"),  # through the $ref
        ({"id": "t2", "status": "pending"}, "must contain"),
        ({**TASK, "title": ""}, "title must be longer"),
        ("just text", "must be object"),
    ):
        with pytest.raises(SchemaViolationError, match=why):
            mb.store("t2", bad, namespace="tasks")
    assert mb.get("t2", namespace="tasks") is None
    mb.store("free", "any text", namespace="elsewhere")  # other namespaces are not checked
    mb.store("t3", {**TASK, "extra": 1}, namespace="tasks")  # not strict: extra fields pass
    # a batch or an import with one bad value writes nothing
    with pytest.raises(SchemaViolationError, match="'b'"):
        mb.store_many([{"key": "a", "value": TASK, "namespace": "tasks"},
                       {"key": "b", "value": {**TASK, "status": "?"}, "namespace": "tasks"}])  # fmt: skip
    assert mb.get("a", namespace="tasks") is None
    lines = [json.dumps({"key": "c", "namespace": "tasks", "value": {"id": 1}})]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaViolationError):
        mb.import_(tmp_path / "bad.jsonl")
    assert mb.count(namespace="tasks") == 3
    assert [k for k, _ in mb.check_schema("tasks")] == ["old"]


def test_strict_mode_refuses_unknown_fields(mb: MindBank) -> None:
    mb.set_schema("tasks", REFERENCE, name="task", strict=True)
    mb.store("t1", TASK, namespace="tasks")
    with pytest.raises(SchemaViolationError, match="must not contain"):
        mb.store("t2", {**TASK, "colour": "red"}, namespace="tasks")
    info = mb.set_schema("users", {"definitions": REFERENCE["memory"]["schemas"]["definitions"]},
                         name="user", strict=True)  # fmt: skip
    assert info.schema["required"] == ["id", "email", "createdAt"]
    user = {"id": UUID, "email": "a@b.co", "createdAt": "2026-11-22T05:00:00Z"}
    mb.store("u", user, namespace="users")
    with pytest.raises(SchemaViolationError):
        mb.store("u2", {**user, "profile": {"name": "x", "age": 3}}, namespace="users")


def test_bad_schemas_are_refused(mb: MindBank) -> None:
    with pytest.raises(ValidationError, match="say which one"):
        mb.set_schema("tasks", REFERENCE)
    with pytest.raises(ValidationError, match="no definition 'nope'"):
        mb.set_schema("tasks", REFERENCE, name="nope")
    with pytest.raises(ValidationError, match="invalid"):
        mb.set_schema("tasks", {"type": "object", "properties": {"x": {"type": 12}}})
    assert mb.schemas() == []
    one = mb.set_schema("n", {"type": "object", "required": ["a"], "title": "thing"})
    assert one.name == "thing" and mb.set_schema("n", {"type": "object"}).version == 2
    assert mb.remove_schema("n") and not mb.remove_schema("n")
    mb.store("x", "anything", namespace="n")


def test_migrators_upgrade_old_formats_on_load(mb: MindBank, db_path: Path | str) -> None:
    mb.store("t-old", {"id": "t9", "name": "legacy", "done": True}, namespace="tasks",
             tags=["keep"], metadata={"by": "v1"})  # fmt: skip
    mb.set_schema("tasks", REFERENCE, name="task")

    def v1_to_v2(value: dict[str, Any]) -> dict[str, Any]:
        return {"id": value["id"], "title": value.pop("name"),
                "status": "completed" if value.get("done") else "pending"}  # fmt: skip

    mb.register_migrator("tasks", v1_to_v2)
    upgraded = {"id": "t9", "title": "legacy", "status": "completed"}
    assert mb.retrieve("t-old", namespace="tasks").value == upgraded  # type: ignore[union-attr]
    assert mb.list(namespace="tasks")[0].value == upgraded
    stored = raw_rows(db_path, "SELECT value FROM memory_store WHERE key = 't-old'")[0][0]
    assert json.loads(stored)["name"] == "legacy"  # on load only, until migrated
    assert mb.migrate_values("tasks") == 1
    e = mb.get("t-old", namespace="tasks")
    assert e is not None and e.value == upgraded and e.tags == ("keep",)
    assert e.metadata == {"by": "v1"} and mb.check_schema("tasks") == []
    assert mb.migrate_values("tasks") == 0


def test_a_schema_set_in_a_rolled_back_transaction_is_not_kept(mb: MindBank) -> None:
    mb.set_schema("n", {"type": "object", "required": ["a"]})
    with pytest.raises(RuntimeError), mb.transaction():
        mb.set_schema("n", {"type": "object", "required": ["b"]})
        mb.store("x", {"b": 1}, namespace="n")  # checked against the new schema
        raise RuntimeError
    mb.set_schema("n", {"type": "object", "required": ["c"]})  # the counter as before
    with pytest.raises(ValidationError, match=r"\['c'\]"):
        mb.store("y", {"b": 1}, namespace="n")
    assert mb.store("y", {"c": 1}, namespace="n").value == {"c": 1}


def test_another_process_sees_a_new_schema_at_once(mb: MindBank, db_path: Path) -> None:
    mb.store("t1", TASK, namespace="tasks")  # schemas read (none) and cached
    with mindbank.open(db_path) as other:
        other.set_schema("tasks", REFERENCE, name="task")
    with pytest.raises(SchemaViolationError):
        mb.store("t2", {"id": 2}, namespace="tasks")


def test_schema_commands(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    (tmp_path / "schemas.json").write_text(json.dumps(REFERENCE))
    r = run_mindbank("memory", "schema", "set", "tasks", str(tmp_path / "schemas.json"),
                     "--name", "task", "--strict", "--db", db)  # fmt: skip
    assert r.returncode == 0 and "schema 'task' v1 (strict)" in r.stdout, r.stderr
    r = run_mindbank("memory", "store", "t1", '{"id": 1}', "--type", "json", "-n", "tasks",
                     "--db", db)  # fmt: skip
    assert r.returncode == 1 and "does not match schema 'task'" in r.stderr
    r = run_mindbank("memory", "store", "t1", json.dumps(TASK), "--type", "json", "-n", "tasks",
                     "--db", db)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run_mindbank("memory", "schema", "show", "--json", "--db", db)
    assert json.loads(r.stdout)[0]["name"] == "task"
    r = run_mindbank("memory", "schema", "check", "tasks", "--db", db)
    assert r.returncode == 0 and "0 entries" in r.stdout
    r = run_mindbank("memory", "schema", "remove", "tasks", "--db", db)
    assert r.returncode == 0
    r = run_mindbank("memory", "schema", "show", "tasks", "--db", db)
    assert r.returncode == 1 and "has no schema" in r.stderr
