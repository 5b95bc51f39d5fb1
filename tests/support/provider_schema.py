"""The schemas of the hashicorp/google and hashicorp/azurerm Terraform providers, and a check of generated Terraform
against them: every google_* / azurerm_* resource type, data source type, argument and nested block must exist.

There is no provider binary (and no `terraform providers schema -json`) on these machines, but the npm registry is
reached, and the prebuilt CDK for Terraform bindings there are generated from those providers' schemas:

- ``@cdktf/provider-google@16.12.1`` carries hashicorp/google 6.50.0,
- ``@cdktf/provider-azurerm@14.23.1`` carries hashicorp/azurerm 4.55.0

(each package.json says so under ``cdktf.provider``; checked when the schema is built). ``npm pack`` downloads a
tarball without installing it (~30 MB each; npm verifies it against the registry's integrity, and it is checked
again here against the value pinned below). Its ``package/.jsii`` (JSON, ~100 MB unpacked) describes every class:

- a resource class has base ``cdktf.TerraformResource``, a data source ``cdktf.TerraformDataSource``, the provider
  ``cdktf.TerraformProvider``; the Terraform type name is the text of the registry link in the class's docs summary
  (``Represents a {@link https://registry.terraform.io/.../docs/resources/compute_instance google_compute_instance}``);
- the initializer's ``config`` parameter is a struct with one property per configurable argument and nested block
  (computed-only attributes are not in it); each property's docs link to ``...#<argument_name>``, the Terraform name
  (the camelCase property name is not always its snake_case: the link is authoritative);
- a property whose docs summary is ``"<name> block."`` is a nested block; its struct gives the block's own arguments
  and blocks. A struct-typed property without that summary is an attribute that may also be written as a block
  (azurerm's "attributes as blocks", e.g. ``site_config.ip_restriction``): it is listed as both;
- a property that is not ``optional`` is required (a required block has min_items >= 1).

``python -m tests.support.provider_schema build`` (run by scripts/test) writes one compact JSON file per provider to
``.cache/provider-schemas/`` (with the tarballs); a second run finds them and returns at once. The files look like
``{"provider": {...}, "resource": {type: BLOCK}, "data": {type: BLOCK}}`` where
``BLOCK = {"arguments": [...], "required": [...], "blocks": {name: BLOCK}}``, and a resource or data source's
BLOCK also has ``"attributes"``: every name ``TYPE.NAME.<name>`` may refer to (arguments, blocks and the computed
attributes, which are the class's getters).

load() builds a schema that is missing (so the tests work without scripts/test) and raises SchemaUnavailable, saying
why and how to fix it, when npm is absent or the download fails: the tests fail then, under CI and locally alike.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
CACHE_DIR = Path(os.environ.get("PROVIDER_SCHEMA_CACHE") or ROOT / ".cache" / "provider-schemas")
#: Bumped when the layout of the extracted schema changes, so that an old cache file is rebuilt.
FORMAT = 2


@dataclass(frozen=True)
class Package:
    provider: str  # the provider's local name, the prefix of its types
    npm: str
    version: str
    provider_version: str  # hashicorp/<provider> version the package was generated from
    integrity: str  # the registry's dist.integrity of that tarball

    @property
    def tarball(self) -> Path:
        return CACHE_DIR / f"{self.npm.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def schema_file(self) -> Path:
        return CACHE_DIR / f"{self.provider}-{self.provider_version}.json"


PACKAGES = {
    "google": Package(
        "google", "@cdktf/provider-google", "16.12.1", "6.50.0",
        "sha512-KqNA/5RiFT07r0PSZ6/07cJ2zESUgbj1JchVj21iBFBZVUbD+578xA/k8eq/r0cbyEgLmg9eYWeVslaYah4DCQ==",
    ),
    "azurerm": Package(
        "azurerm", "@cdktf/provider-azurerm", "14.23.1", "4.55.0",
        "sha512-3H20Ozj7dOKmIj6mqorHZEjLNo5wO/MBEVHwu6k53fln/0EciGQa9sDLWBYSb0o40Ycpih9lFp/k6SGRbFlQVg==",
    ),
}  # fmt: skip

Block = dict[str, Any]


class SchemaUnavailable(RuntimeError):
    """The schema is not cached and could not be built; the message says why and what to do."""


# ------------------------------------------------------------------------------------------------ building


def _npm_pack(package: Package) -> None:
    npm = shutil.which("npm")
    spec = f"{package.npm}@{package.version}"
    if not npm:
        raise SchemaUnavailable(
            f"npm is not on PATH, so {spec} (the {package.provider} {package.provider_version} provider schema) "
            "cannot be downloaded: install Node.js and npm (Debian: `apt-get install nodejs npm`) and run "
            "`python -m tests.support.provider_schema build`"
        )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            [npm, "pack", spec, "--pack-destination", str(CACHE_DIR), "--json", "--ignore-scripts"],
            capture_output=True, text=True, timeout=300, cwd=CACHE_DIR,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise SchemaUnavailable(f"`npm pack {spec}` did not finish in {exc.timeout:.0f} s") from exc
    if result.returncode != 0 or not package.tarball.is_file():
        output = (result.stderr.strip() or result.stdout.strip())[-1500:]
        raise SchemaUnavailable(
            f"`npm pack {spec}` failed (exit {result.returncode}), so the {package.provider} provider schema "
            f"cannot be built; npm said:\n{output}"
        )


def _check_integrity(package: Package) -> None:
    algorithm, _, expected = package.integrity.partition("-")
    digest = hashlib.new(algorithm)
    with package.tarball.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if base64.b64encode(digest.digest()).decode() != expected:
        package.tarball.unlink()
        raise SchemaUnavailable(
            f"{package.tarball.name} does not match the pinned integrity {package.integrity}: removed; run the "
            "build again (and if it persists, the package on the registry changed)"
        )


def _read_package(package: Package) -> tuple[dict[str, Any], dict[str, Any]]:
    """(package.json, .jsii) from the tarball."""
    wanted = {"package/package.json": None, "package/.jsii": None}
    with tarfile.open(package.tarball, "r:gz") as tar:
        for member in tar:
            if member.name in wanted:
                wanted[member.name] = json.load(tar.extractfile(member))
                if all(v is not None for v in wanted.values()):
                    break
    missing = [name for name, value in wanted.items() if value is None]
    if missing:
        raise SchemaUnavailable(f"{package.tarball.name} has no {', '.join(missing)}")
    return wanted["package/package.json"], wanted["package/.jsii"]


_CLASS_LINK = re.compile(r"\{@link https://registry\.terraform\.io/providers/[^ }]+ ([\w-]+)\}")
_ARGUMENT_LINK = re.compile(r"\{@link https://registry\.terraform\.io/providers/[^ }#]+#([\w-]+) [^}]*\}")
_BASES = {"cdktf.TerraformResource": "resource", "cdktf.TerraformDataSource": "data",
          "cdktf.TerraformProvider": "provider"}  # fmt: skip


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _struct_fqn(type_ref: dict[str, Any], types: dict[str, Any]) -> str | None:
    """The struct a property's type is (or is a collection of, or a union with IResolvable of), if any."""
    if "fqn" in type_ref:
        fqn = type_ref["fqn"]
        return fqn if types.get(fqn, {}).get("datatype") else None
    if "collection" in type_ref:
        return _struct_fqn(type_ref["collection"]["elementtype"], types)
    for member in type_ref.get("union", {}).get("types", []):
        found = _struct_fqn(member, types)
        if found:
            return found
    return None


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _block(fqn: str, types: dict[str, Any], where: str, seen: tuple[str, ...] = ()) -> Block:
    struct = types[fqn]
    arguments: set[str] = set()
    required: set[str] = set()
    blocks: dict[str, Block] = {}
    for prop in struct.get("properties", []):
        anchors = [m for text in _strings(prop.get("docs", {})) for m in _ARGUMENT_LINK.findall(text)]
        # a few descriptions hold "*/", which cuts the docs comment short: the snake_case of the property name is
        # the argument name then (it is for every property that has the link, except those renamed below)
        name = anchors[-1] if anchors else _snake(prop["name"])
        nested = _struct_fqn(prop["type"], types)
        is_block = prop.get("docs", {}).get("summary", "").strip() == f"{name} block."
        if is_block and not nested:
            raise ValueError(f"{where}: {name} is documented as a block but its type is no struct: {prop['type']}")
        if nested and nested not in seen:
            blocks[name] = _block(nested, types, f"{where}.{name}", (*seen, fqn))
        if not is_block:
            arguments.add(name)
        if not prop.get("optional"):
            required.add(name)
    return {"arguments": sorted(arguments), "required": sorted(required), "blocks": dict(sorted(blocks.items()))}


def _attributes(cls: dict[str, Any], block: Block) -> list[str]:
    """What `TYPE.NAME.<attribute>` may name: the arguments and blocks, and the computed attributes, which are the
    class's other instance getters (minus each argument's `<name>Input` twin), in snake_case."""
    names = {p["name"] for p in cls.get("properties", []) if not p.get("static")}
    computed = {_snake(n) for n in names if not (n.endswith("Input") and n[: -len("Input")] in names)}
    return sorted(computed | set(block["arguments"]) | set(block["blocks"]))


def extract(jsii: dict[str, Any]) -> dict[str, Any]:
    """{"provider": BLOCK, "resource": {type: BLOCK}, "data": {type: BLOCK}} from a cdktf provider's .jsii."""
    types = jsii["types"]
    schema: dict[str, Any] = {"provider": None, "resource": {}, "data": {}}
    for fqn, cls in types.items():
        kind = _BASES.get(cls.get("base", ""))
        if kind is None:
            continue
        match = _CLASS_LINK.search(cls.get("docs", {}).get("summary", ""))
        if not match:
            raise ValueError(f"{fqn}: no registry link names its Terraform type")
        (config,) = [p for p in cls["initializer"]["parameters"] if p["name"] == "config"]
        block = _block(config["type"]["fqn"], types, match.group(1))
        if kind != "provider":
            block["attributes"] = _attributes(cls, block)
        if kind == "provider":
            schema["provider"] = block
        else:
            if match.group(1) in schema[kind]:
                raise ValueError(f"{match.group(1)} is described twice ({fqn})")
            schema[kind][match.group(1)] = block
    schema["resource"] = dict(sorted(schema["resource"].items()))
    schema["data"] = dict(sorted(schema["data"].items()))
    return schema


def _up_to_date(package: Package) -> bool:
    try:
        with package.schema_file.open() as f:
            head = json.loads(f.readline())
    except (OSError, ValueError):
        return False
    return head == _header(package)


def _header(package: Package) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "npm": f"{package.npm}@{package.version}",
        "integrity": package.integrity,
        "provider": f"registry.terraform.io/hashicorp/{package.provider}",
        "version": package.provider_version,
    }


def build_one(package: Package) -> bool:
    """Writes the package's schema file unless it is there already; True when it was built. Raises
    SchemaUnavailable when it cannot be."""
    if _up_to_date(package):
        return False
    if not package.tarball.is_file():
        _npm_pack(package)
    _check_integrity(package)
    package_json, jsii = _read_package(package)
    carried = package_json.get("cdktf", {}).get("provider", {})
    expected = {"name": f"registry.terraform.io/hashicorp/{package.provider}", "version": package.provider_version}
    if carried != expected:
        raise SchemaUnavailable(f"{package.npm}@{package.version} carries {carried}, not {expected}")
    schema = extract(jsii)
    temporary = package.schema_file.with_suffix(f".tmp{os.getpid()}")
    # first line: the header (read alone by _up_to_date), second: the schema
    temporary.write_text(json.dumps(_header(package)) + "\n" + json.dumps(schema, separators=(",", ":")) + "\n")
    temporary.replace(package.schema_file)
    return True


def build(providers: Iterable[str] = tuple(PACKAGES)) -> list[str]:
    """Builds every missing schema; returns the reasons of those that could not be built (empty: all there)."""
    failures = []
    for name in providers:
        try:
            build_one(PACKAGES[name])
        except (SchemaUnavailable, OSError, ValueError, tarfile.TarError) as exc:
            failures.append(f"{name}: {exc}")
    return failures


#: Why a schema could not be built, per provider: tried once per process (a failing download may take minutes).
_FAILED: dict[str, SchemaUnavailable] = {}


@functools.cache
def load(provider: str) -> dict[str, Any]:
    """The provider's schema (built first if missing); raises SchemaUnavailable saying why it cannot be had."""
    package = PACKAGES[provider]
    if provider in _FAILED:
        raise _FAILED[provider]
    failures = build([provider])
    if failures:
        _FAILED[provider] = SchemaUnavailable(
            f"the {provider} provider schema ({package.npm}@{package.version}, hashicorp/{provider} "
            f"{package.provider_version}) is not in {CACHE_DIR} and could not be built: {failures[0]}"
        )
        raise _FAILED[provider]
    with package.schema_file.open() as f:
        f.readline()
        return json.loads(f.readline())


# ------------------------------------------------------------------------------------------------ checking

#: Meta-arguments Terraform accepts in every resource / data source whatever its provider's schema says.
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider"}
META_BLOCKS = {"lifecycle", "provisioner", "connection"}
DATA_META_BLOCKS = {"lifecycle"}
PROVIDER_META_ARGUMENTS = {"alias", "version"}
LIFECYCLE = {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by", "precondition",
             "postcondition"}  # fmt: skip


def _is_block_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


def _line_of(lines: list[str], start: int, key: str) -> int:
    """The line (1-based) of the first `key = ...`, `key {` or `dynamic "key" {` at or after line `start`."""
    pattern = re.compile(rf'^\s*(?:{re.escape(key)}\s*[={{]|dynamic\s+"{re.escape(key)}"|"?{re.escape(key)}"?\s*=)')
    for number in range(max(start, 1), len(lines) + 1):
        if pattern.match(lines[number - 1]):
            return number
    return start


class _Checker:
    def __init__(self, path: str, text: str, problem: Any) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.problem = problem
        self.problems: list[str] = []

    def report(self, line: int, message: str) -> None:
        self.problems.append(self.problem(self.path, message, line or None))

    def body(self, where: str, body: dict[str, Any], schema: Block, line: int, meta: set[str] = frozenset(),
             meta_blocks: set[str] = frozenset()) -> None:  # fmt: skip
        """Checks one block body against its schema; `line` is the block's first line (to find its keys' lines)."""
        present: set[str] = set()
        for key, value in body.items():
            if key.startswith("__"):
                continue
            if key == "dynamic" and isinstance(value, list):
                for dynamic in (d for d in value if isinstance(d, dict)):
                    for label, inner in dynamic.items():
                        if label.startswith("__"):
                            continue
                        name = _unquote(label)
                        at = _line_of(self.lines, line, name)
                        if name not in schema["blocks"]:
                            self.report(at, f'{where}: dynamic "{name}": {self._unknown("block", name, schema)}')
                            continue
                        present.add(name)
                        for content in inner.get("content", []) if isinstance(inner, dict) else []:
                            if isinstance(content, dict):
                                self.body(f"{where}.{name}", content, schema["blocks"][name], at)
                continue
            at = _line_of(self.lines, line, key)
            if key in meta or key in meta_blocks:
                if key == "lifecycle" and _is_block_list(value):
                    for unknown in sorted({k for b in value for k in b if not k.startswith("__")} - LIFECYCLE):
                        self.report(_line_of(self.lines, at, unknown), f"{where}: lifecycle has no {unknown}")
                    self.ignore_changes(where, value, schema, at)
                continue
            if _is_block_list(value):
                if key not in schema["blocks"]:
                    self.report(at, f"{where}: {self._unknown('block', key, schema)}")
                    continue
                present.add(key)
                for nested in value:
                    self.body(f"{where}.{key}", nested, schema["blocks"][key], at)
            elif key in schema["arguments"]:
                present.add(key)
            else:
                self.report(at, f"{where}: {self._unknown('argument', key, schema)}")
        for missing in sorted(set(schema["required"]) - present):
            kind = "block" if missing in schema["blocks"] and missing not in schema["arguments"] else "argument"
            self.report(line, f"{where}: the required {kind} {missing} is missing")

    def ignore_changes(self, where: str, lifecycles: list[dict[str, Any]], schema: Block, line: int) -> None:
        """Each `ignore_changes` entry starts with an attribute of the resource (`all` is a keyword, not a list)."""
        known = {_normal(a) for a in schema.get("attributes", [])}
        for lifecycle in lifecycles:
            entries = lifecycle.get("ignore_changes")
            for entry in entries if isinstance(entries, list) and known else []:
                match = re.match(r"^(?:\$\{)?([A-Za-z_][\w-]*)", entry) if isinstance(entry, str) else None
                if match and _normal(match.group(1)) not in known:
                    self.report(
                        _line_of(self.lines, line, "ignore_changes"),
                        f"{where}: lifecycle.ignore_changes names {match.group(1)}, which is no attribute of it",
                    )

    @staticmethod
    def _unknown(kind: str, name: str, schema: Block) -> str:
        if kind == "argument" and name in schema["blocks"]:
            return f"{name} is a block, not an argument (write `{name} {{ ... }}`)"
        if kind == "block" and name in schema["arguments"]:
            return f"{name} is an argument, not a block (write `{name} = ...`)"
        known = schema["arguments" if kind == "argument" else "blocks"]
        near = _near(name, known)
        return f"unknown {kind} {name}" + (f" (did you mean {near}?)" if near else "")


def _near(name: str, known: Iterable[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return matches[0] if matches else None


def check_file(path: str, text: str) -> list[str]:
    """Problems of one .tf file against the google and azurerm schemas: unknown resource / data source types,
    arguments and nested blocks (`dynamic "x"` is block x), missing required ones, and attributes that references
    and lifecycle.ignore_changes name but the type has not. Meta-arguments (count, for_each, depends_on, provider,
    lifecycle, provisioner, connection) are Terraform's; `timeouts` is checked as the provider declares it (only the
    resources that take one). Other providers' blocks (aws_*, ...) are left alone.
    Raises SchemaUnavailable when a schema it needs cannot be had."""
    from tests.support import validators

    doc, problems = validators.load_hcl(path, text)
    if doc is None:
        return problems
    checker = _Checker(path, text, validators.problem)
    lines = checker.lines
    for kind in ("resource", "data"):
        for block in doc.get(kind, []):
            for type_label, named in block.items():
                rtype = _unquote(type_label)
                provider = rtype.split("_")[0]
                if type_label.startswith("__") or provider not in PACKAGES or not isinstance(named, dict):
                    continue
                schema = load(provider)[kind]
                for name_label, body in named.items():
                    if name_label.startswith("__"):
                        continue
                    name = _unquote(name_label)
                    header = re.compile(rf'^\s*{kind}\s+"{re.escape(rtype)}"\s+"{re.escape(name)}"')
                    line = next((i for i, text_line in enumerate(lines, 1) if header.match(text_line)), 0)
                    where = f"{'data.' if kind == 'data' else ''}{rtype}.{name}"
                    if rtype not in schema:
                        near = _near(rtype, schema)
                        what = "data source" if kind == "data" else "resource type"
                        version = PACKAGES[provider].provider_version
                        hint = f" (did you mean {near}?)" if near else ""
                        checker.report(line, f"{where}: hashicorp/{provider} {version} has no {what} {rtype}{hint}")
                        continue
                    checker.body(where, body, schema[rtype], line, META_ARGUMENTS,
                                 META_BLOCKS if kind == "resource" else DATA_META_BLOCKS)  # fmt: skip
    for block in doc.get("provider", []):
        for label, body in block.items():
            provider = _unquote(label)
            if label.startswith("__") or provider not in PACKAGES or not isinstance(body, dict):
                continue
            header = re.compile(rf'^\s*provider\s+"{re.escape(provider)}"')
            line = next((i for i, text_line in enumerate(lines, 1) if header.match(text_line)), 0)
            checker.body(f'provider "{provider}"', body, load(provider)["provider"], line, PROVIDER_META_ARGUMENTS)
    return problems + checker.problems + _check_references(path, text, validators)


_REFERENCE = re.compile(
    r"(?<![\w.-])(data\.)?((?:google|azurerm)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)((?:\[[^\]\n]*\])?)\.([A-Za-z_]\w*)"
)


def _normal(name: str) -> str:
    return name.replace("_", "").lower()


def _check_references(path: str, text: str, validators: Any) -> list[str]:
    """Every `TYPE.NAME.attribute` / `data.TYPE.NAME.attribute` names an attribute TYPE has (compared without
    underscores: the snake_case of a computed attribute is derived from its getter's camelCase)."""
    found = []
    for number, line in enumerate(validators._strip_hcl_comments(text).splitlines(), start=1):
        for match in _REFERENCE.finditer(line):
            data, rtype, name, _index, attribute = match.groups()
            provider = rtype.split("_")[0]
            types = load(provider)["data" if data else "resource"]
            if rtype not in types:
                continue  # reported where it is declared
            known = types[rtype]["attributes"]
            if _normal(attribute) not in {_normal(a) for a in known}:
                near = _near(attribute, known)
                found.append(validators.problem(
                    path, f"{match.group(0)}: {rtype} has no attribute {attribute}"
                    + (f" (did you mean {near}?)" if near else ""), number,
                ))  # fmt: skip
    return found


def check_files(files: dict[str, str]) -> list[str]:
    """check_file on every .tf file."""
    return [p for path, text in sorted(files.items()) if path.endswith(".tf") for p in check_file(path, text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Provider schemas for tests/test_terraform_schema.py.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help=f"download (npm pack) and extract the schemas into {CACHE_DIR}, when missing")
    check = sub.add_parser("check", help="check .tf files against the schemas")
    check.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "build":
        started = time.monotonic()
        failures = build()
        for failure in failures:
            print(f"provider schema: {failure}", file=sys.stderr)
        if failures:
            return 1
        counts = ", ".join(
            f"{p.provider} {p.provider_version}: {len(s['resource'])} resources, {len(s['data'])} data sources"
            for p in PACKAGES.values() for s in [load(p.provider)]
        )  # fmt: skip
        print(f"provider schemas in {CACHE_DIR} ({counts}; {time.monotonic() - started:.1f} s)")
        return 0
    problems = [p for path in args.files for p in check_file(str(path), path.read_text())]
    print("\n".join(problems) or "no problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
