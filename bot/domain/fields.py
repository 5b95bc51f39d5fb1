"""What a site's create screen allows, and how doe-bot's fields fit it (issue type per project, from createmeta).

Real sites differ: labels or story points may be off the screen, a custom field may be required, the epic is a
`parent` (team-managed) or an "Epic Link" field (company-managed). These pure functions decide what to send,
what to leave out with a note, and what to ask the user for.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, Field

#: Fields doe-bot always fills itself (or Jira fills): never asked for.
FILLED_BY_DOE = {"summary", "description", "issuetype", "project", "labels", "priority", "issuelinks", "reporter"}


class AllowedValue(BaseModel):
    id: str
    label: str


class MetaField(BaseModel):
    id: str
    name: str
    required: bool = False
    has_default: bool = False
    kind: str = "string"  # schema type: string, number, option, array, user, date, issuelink, …
    items: str | None = None  # for arrays: option, component, string, …
    allowed: list[AllowedValue] = Field(default_factory=list)


class CreateMeta(BaseModel):
    project_key: str
    project_id: str | None = None
    issue_type_id: str
    issue_type_name: str
    fields: dict[str, MetaField]

    def has(self, field_id: str) -> bool:
        return field_id in self.fields

    def name_of(self, field_id: str) -> str:
        field = self.fields.get(field_id)
        return field.name if field else field_id


def meta_field_from_json(raw: dict[str, Any]) -> MetaField:
    """One entry of `/issue/createmeta/{project}/issuetypes/{id}` (Cloud `fields`, Data Center `values`)."""
    schema = raw.get("schema") or {}
    allowed = []
    for value in raw.get("allowedValues") or []:
        if isinstance(value, dict) and "id" in value:
            label = value.get("value") or value.get("name") or str(value["id"])
            allowed.append(AllowedValue(id=str(value["id"]), label=str(label)))
    return MetaField(
        id=str(raw.get("fieldId") or raw.get("key")),
        name=str(raw.get("name") or raw.get("fieldId")),
        required=bool(raw.get("required")),
        has_default=bool(raw.get("hasDefaultValue")),
        kind=str(schema.get("type") or "string"),
        items=schema.get("items"),
        allowed=allowed,
    )


def askable(field: MetaField) -> bool:
    """Can the modal ask for it? A choice among allowed values, or plain text/number."""
    if field.allowed and field.kind in ("option", "array", "string", "priority", "version", "component"):
        return True
    return field.kind in ("string", "number") and not field.allowed


def missing_required(meta: CreateMeta, *, provided: set[str]) -> list[MetaField]:
    """Required fields with no default that doe-bot does not fill and no configured default covers."""
    return [
        f
        for f in meta.fields.values()
        if f.required and not f.has_default and f.id not in FILLED_BY_DOE and f.id not in provided
    ]


def field_json(field: MetaField, value: str) -> Any:
    """The REST v2 value for `value` (an allowed value's id, or text) in this field."""
    if field.allowed:
        if field.kind == "array":
            return [{"id": value}]
        return {"id": value}
    if field.kind == "number":
        return float(value)
    if field.kind == "array":
        return [value]
    return value


def default_json(field: MetaField, value: Any) -> Any:
    """A configured default (a name or a list of names) as the REST value, matched against allowed values."""
    names = value if isinstance(value, list) else [value]
    if field.allowed:
        ids = []
        for name in names:
            match = next((a for a in field.allowed if a.label.lower() == str(name).lower() or a.id == str(name)), None)
            if match is None:
                raise ValueError(f"'{name}' is not an allowed value of {field.name}")
            ids.append({"id": match.id})
        return ids if field.kind == "array" else ids[0]
    if field.kind == "number":
        return float(names[0])
    return names if field.kind == "array" else names[0]


def finish_in_jira_url(
    *, base_url: str, meta: CreateMeta, summary: str, labels: list[str], priority_id: str | None
) -> str:
    """Jira's create screen, pre-filled (works on Cloud and Data Center): the user completes what doe-bot can't."""
    params: list[tuple[str, str]] = [("issuetype", meta.issue_type_id), ("summary", summary)]
    if meta.project_id:
        params.insert(0, ("pid", meta.project_id))
    params += [("labels", label) for label in labels]
    if priority_id:
        params.append(("priority", priority_id))
    return f"{base_url}/secure/CreateIssueDetails!init.jspa?{urlencode(params)}"
