"""The templates gallery: every shipped template validates and dry-runs cleanly against its sample
event, the generated migration is the files' current one, and the gallery's inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.config_api.domain import (
    CATEGORIES,
    GalleryCursor,
    GalleryTemplate,
    InvalidInput,
    SavePolicy,
    TemplateSource,
    WorkflowRecord,
    check_definition,
    draft_from,
    dry_run,
    parse_category,
    parse_definition,
    parse_publish,
    parse_use,
    template_of,
)
from services.config_api.gallery import (
    GENERATED_MARK,
    InvalidSource,
    latest_generated,
    load_sources,
    migration_files,
    next_migration_name,
    render_migration,
    sql_text,
)
from services.config_api.gallery.__main__ import main as gallery_command

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SOURCES = load_sources()
SEED_WORKFLOWS = Path(__file__).parents[3] / "deploy" / "local" / "seed_workflows.json"


def test_the_gallery_ships_seed_000s_four_examples_and_twenty_more_in_every_category() -> None:
    seed = json.loads(SEED_WORKFLOWS.read_text(encoding="utf-8"))
    shipped = {source.workflow["name"]: source.workflow for source in SOURCES}
    for example in seed:
        # The seed's examples as written; the template adds its description.
        assert {k: v for k, v in shipped[example["name"]].items() if k != "description"} == example
    assert len(SOURCES) >= len(seed) + 20
    assert {source.category for source in SOURCES} == set(CATEGORIES)
    assert any(source.featured for source in SOURCES)
    assert len({source.slug for source in SOURCES}) == len(SOURCES)


@pytest.mark.parametrize("source", SOURCES, ids=lambda source: source.slug)
def test_every_template_validates_and_dry_runs_cleanly_on_its_sample_event(
    source: TemplateSource,
) -> None:
    definition = parse_definition(source.workflow)
    check_definition(definition, SavePolicy())
    record = WorkflowRecord("wf_gallery", "acme", 1, definition, NOW, NOW, "system")
    result = dry_run(record, source.sample_event.data, NOW)
    assert result["wouldRun"], result["conditions"]
    assert result["missingVariables"] == []
    for action in result["actions"]:
        assert action["wouldRun"], action
        assert action["unresolvedDates"] == [], action
    # Text that names the event's fields says something for the sample: no empty renderings.
    assert all(value != "" for action in result["actions"] for value in _texts(action["rendered"]))


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


def test_the_latest_generated_migration_ships_exactly_the_files() -> None:
    latest = latest_generated(migration_files())
    assert latest is not None
    name, text = latest
    assert text == render_migration(SOURCES), (
        f"the template files differ from {name}: run "
        "`python -m services.config_api.gallery --write-migration` and commit the new migration"
    )


def test_a_change_to_the_files_makes_a_new_migration_numbered_after_the_last() -> None:
    migrations = migration_files()
    last = max(number for number, _, _ in migrations)
    assert next_migration_name(migrations) == f"{last + 1:03d}_gallery_system_templates.sql"
    changed = [SOURCES[0].model_copy(update={"name": "Renamed"}), *SOURCES[1:]]
    assert render_migration(changed) != render_migration(SOURCES)
    assert render_migration(changed).startswith(GENERATED_MARK)


def _write(directory: Path, name: str, document: dict[str, Any]) -> None:
    (directory / name).write_text(json.dumps(document), encoding="utf-8")


def _source_document(**changes: Any) -> dict[str, Any]:
    document = SOURCES[0].model_dump(mode="json", by_alias=True, exclude_none=True)
    document.update(changes)
    return document


def test_bad_source_files_are_refused_naming_the_file_and_the_field(tmp_path: Path) -> None:
    good = _source_document()
    _write(tmp_path, f"{good['slug']}.json", good)
    assert [source.slug for source in load_sources(tmp_path)] == [good["slug"]]

    _write(tmp_path, "other-name.json", good)
    with pytest.raises(InvalidSource, match=r"other-name\.json: its slug is"):
        load_sources(tmp_path)
    (tmp_path / "other-name.json").unlink()

    broken = _source_document(slug="broken", category="Finance")
    _write(tmp_path, "broken.json", broken)
    with pytest.raises(InvalidSource, match=r"broken\.json:.*category"):
        load_sources(tmp_path)

    wrong_sample = _source_document(
        slug="broken", sampleEvent={"type": "customer.created", "data": {}}
    )
    _write(tmp_path, "broken.json", wrong_sample)
    with pytest.raises(InvalidSource, match="is not the workflow's trigger"):
        load_sources(tmp_path)

    invalid_workflow = _source_document(
        slug="broken", workflow={**good["workflow"], "actions": [{"type": "slack"}]}
    )
    _write(tmp_path, "broken.json", invalid_workflow)
    with pytest.raises(InvalidSource, match=r"\$\.workflow\.actions\[0\]"):
        load_sources(tmp_path)

    with_status = _source_document(slug="broken", workflow={**good["workflow"], "active": True})
    _write(tmp_path, "broken.json", with_status)
    with pytest.raises(InvalidSource, match="has no 'status'"):
        load_sources(tmp_path)


def test_sql_text_quotes_and_escapes() -> None:
    assert sql_text("it's") == "'it''s'"
    assert sql_text("a → b's \\") == "U&'a \\+002192 b''s \\\\'"


def _template(**changes: Any) -> GalleryTemplate:
    source = SOURCES[0]
    fields: dict[str, Any] = {
        "id": 7,
        "tenant_id": None,
        "slug": source.slug,
        "name": source.name,
        "description": source.description,
        "category": source.category,
        "featured": source.featured,
        "workflow": source.workflow,
        "sample_event": None,
        "usage_count": 3,
        "source_workflow_id": None,
        "created_at": NOW,
        "updated_at": NOW,
        "created_by": "system",
    }
    fields.update(changes)
    return GalleryTemplate(**fields)


def test_a_use_is_a_draft_with_the_templates_workflow() -> None:
    draft = draft_from(_template())
    assert draft.status == "draft"
    assert draft.name == SOURCES[0].workflow["name"]
    assert draft_from(_template(), "Our alert").name == "Our alert"
    assert draft_from(_template(workflow={**SOURCES[0].workflow, "active": True})).status == "draft"
    with pytest.raises(InvalidInput, match="not a valid workflow any more"):
        draft_from(_template(workflow={"name": "x", "trigger": "nope", "actions": []}))
    with pytest.raises(InvalidInput) as invalid:
        parse_use({"name": ""})
    assert invalid.value.details[0]["path"] == "$.name"


def test_publishing_copies_the_workflow_without_status_and_checks_the_sample() -> None:
    definition = parse_definition({**SOURCES[0].workflow, "status": "active"})
    request = parse_publish(
        {"workflowId": "wf_1", "slug": "our-alert", "category": "Sales", "featured": True}
    )
    new = template_of(request, definition)
    assert "status" not in new.workflow
    assert (new.name, new.description, new.source_workflow_id) == (
        definition.name,
        definition.description,
        "wf_1",
    )
    wrong = parse_publish(
        {
            "workflowId": "wf_1",
            "slug": "our-alert",
            "category": "Sales",
            "sampleEvent": {"type": "customer.created", "data": {}},
        }
    )
    with pytest.raises(InvalidInput) as invalid:
        template_of(wrong, definition)
    assert invalid.value.details[0]["path"] == "$.sampleEvent.type"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"slug": "x", "category": "Sales"}, "$.workflowId"),
        ({"workflowId": "wf_1", "slug": "Not A Slug", "category": "Sales"}, "$.slug"),
        ({"workflowId": "wf_1", "slug": "ok", "category": "Finance"}, "$.category"),
        ({"workflowId": "wf_1", "slug": "ok", "category": "Sales", "extra": 1}, "$.extra"),
        ([], "$"),
    ],
)
def test_publish_inputs_name_the_field_at_fault(body: object, path: str) -> None:
    with pytest.raises(InvalidInput) as invalid:
        parse_publish(body)
    assert path in {detail["path"] for detail in invalid.value.details}


def test_gallery_cursors_and_filters() -> None:
    cursor = GalleryCursor(True, "Deal | Won → Invoice", 42)
    assert GalleryCursor.decode(cursor.encode()) == cursor
    for token in ("nonsense", GalleryCursor(False, "x", 1).encode()[:-2], "cDE"):
        with pytest.raises(InvalidInput) as invalid:
            GalleryCursor.decode(token)
        assert invalid.value.details[0]["path"] == "query.cursor"
    assert parse_category("Sales") == "Sales"
    with pytest.raises(InvalidInput) as invalid:
        parse_category("sales")
    assert invalid.value.details[0]["path"] == "query.category"


def test_the_generator_says_the_migration_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert gallery_command(["--check"]) == 0
    assert "up to date" in capsys.readouterr().err
    assert gallery_command(["--print"]) == 0
    assert capsys.readouterr().out == render_migration(SOURCES)
