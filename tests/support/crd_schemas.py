"""Schemas of the custom resources the starter manifests use (KEDA, External Secrets, GKE's BackendConfig), checked
as strictly as kubernetes-validate checks the core kinds.

kubernetes-validate bundles only Kubernetes' own API groups, so a ScaledObject or an ExternalSecret would otherwise go
unchecked. Each upstream CustomResourceDefinition's ``openAPIV3Schema`` is stored, as published, in
``tests/data/crds/<group>_<Kind>_<version>.json`` with the repository, path and commit it comes from (key
``source``; descriptions dropped to keep the files small). ``python -m tests.support.crd_schemas CRD.yaml --repo R
--path P --commit C`` extracts every served version of a CRD into that folder (see tests/data/crds/README.md).

Strictness: the API server prunes (or, with ``kubectl apply --validate=strict``, rejects) fields a structural schema
does not declare, so every object schema that lists ``properties`` and neither ``additionalProperties`` nor
``x-kubernetes-preserve-unknown-fields`` gets ``additionalProperties: false`` here: a misspelled field is an error.
``x-kubernetes-int-or-string`` becomes integer-or-string and ``nullable`` allows null, as the API server reads them.
``metadata`` (only ``type: object`` in a CRD) is checked against the ObjectMeta fields a manifest may set.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_DIR = Path(__file__).resolve().parent.parent / "data" / "crds"

_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
#: The ObjectMeta fields a manifest sets (the server fills in the rest).
OBJECT_META = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _NAME},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": _STRINGS,
        "annotations": _STRINGS,
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": False,
}


def schema_file(group: str, kind: str, version: str) -> Path:
    return CRD_DIR / f"{group}_{kind}_{version}.json"


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_descriptions(v) for k, v in node.items() if k != "description" or not isinstance(v, str)}
    if isinstance(node, list):
        return [_without_descriptions(v) for v in node]
    return node


def extract(crd_text: str, source: dict[str, str]) -> list[Path]:
    """Writes the openAPIV3Schema of every served version of the CRD(s) in crd_text; returns the files written."""
    written = []
    for crd in yaml.safe_load_all(crd_text):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            path = schema_file(spec["group"], spec["names"]["kind"], version["name"])
            document = {
                "source": source,
                "group": spec["group"],
                "kind": spec["names"]["kind"],
                "version": version["name"],
                "openAPIV3Schema": _without_descriptions(version["schema"]["openAPIV3Schema"]),
            }
            path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
            written.append(path)
    return written


def strict_schema(node: Any) -> Any:
    """The structural schema as the API server enforces it, unknown fields refused (see the module docstring)."""
    if isinstance(node, list):
        return [strict_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: strict_schema(v) if k in _SUBSCHEMAS else v for k, v in node.items()}
    if "properties" in node:
        node["properties"] = {k: strict_schema(v) for k, v in node["properties"].items()}
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    if (
        node.get("type") == "object"
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    return node


_SUBSCHEMAS = {"items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"}


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


@functools.lru_cache(maxsize=32)
def validator_for(api_version: str, kind: str) -> jsonschema.Draft7Validator | None:
    """A validator of that kind's strict schema, or None when no CRD of it is stored."""
    group, version = split_api_version(api_version)
    path = schema_file(group, kind, version)
    if not group or not path.is_file():
        return None
    schema = strict_schema(copy.deepcopy(json.loads(path.read_text())["openAPIV3Schema"]))
    schema.setdefault("properties", {})["metadata"] = OBJECT_META
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    return jsonschema.Draft7Validator(schema)


@functools.lru_cache(maxsize=1)
def known_groups() -> frozenset[str]:
    """API groups with at least one stored CRD: a kind of these groups without a schema is an unknown kind."""
    return frozenset(json.loads(p.read_text())["group"] for p in CRD_DIR.glob("*.json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Store the schemas of a CustomResourceDefinition for the tests.")
    parser.add_argument("crd", type=Path, help="the CRD YAML file")
    parser.add_argument("--repo", required=True, help="owner/name of the repository it comes from")
    parser.add_argument("--path", required=True, help="its path in that repository")
    parser.add_argument("--commit", required=True, help="the commit it was taken from")
    parser.add_argument("--note", default="", help="where the CRD comes from, if the repository is not its origin")
    args = parser.parse_args(argv)
    source = {"repo": args.repo, "path": args.path, "commit": args.commit}
    if args.note:
        source["note"] = args.note
    for path in extract(args.crd.read_text(), source):
        print(path.relative_to(CRD_DIR.parent.parent.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
