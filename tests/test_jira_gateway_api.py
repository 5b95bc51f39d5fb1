"""The Jira gateway's layers: the JiraGateway Protocol is the gateway's whole public API (LibraryJiraGateway's
public methods, same signatures, and every method the rest of bot/ calls on a Jira gateway), and only the HTTP
layer (bot/gateways/jira_http.py) uses the `jira` library."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from bot.gateways.jira_gateway import JiraGateway, LibraryJiraGateway

BOT = Path(__file__).resolve().parent.parent / "bot"


def _public_methods(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if not name.startswith("_") and callable(value)}


def test_the_protocol_lists_exactly_the_gateways_public_methods() -> None:
    protocol, library = _public_methods(JiraGateway), _public_methods(LibraryJiraGateway)
    assert library - protocol == set(), "public on LibraryJiraGateway but missing from the JiraGateway Protocol"
    assert protocol - library == set(), "in the JiraGateway Protocol but not implemented by LibraryJiraGateway"


def test_the_protocol_and_the_gateway_have_the_same_signatures() -> None:
    for name in _public_methods(JiraGateway):
        expected = inspect.signature(getattr(JiraGateway, name))
        assert inspect.signature(getattr(LibraryJiraGateway, name)) == expected, name


def _jira_attributes(tree: ast.AST) -> set[str]:
    """Attributes read on anything named `jira` (`jira.x`, `self.jira.x`)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if name == "jira":
                found.add(node.attr)
    return found


def test_everything_bot_asks_of_a_jira_gateway_is_in_the_protocol() -> None:
    used: dict[str, set[str]] = {}
    for path in BOT.rglob("*.py"):
        if path.parent.name == "gateways" and path.name.startswith("jira_"):
            continue
        for attr in _jira_attributes(ast.parse(path.read_text(encoding="utf-8"))):
            used.setdefault(attr, set()).add(str(path.relative_to(BOT)))
    assert {"create_task", "screen_gaps", "ping"} <= set(used), used  # the scan sees the callers
    missing = {attr: where for attr, where in used.items() if attr not in _public_methods(JiraGateway)}
    assert missing == {}, "called on a Jira gateway but not in the JiraGateway Protocol"


def test_only_the_http_layer_uses_the_jira_library() -> None:
    users = []
    for path in BOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(name == "jira" or name.startswith("jira.") for name in names):
                users.append(str(path.relative_to(BOT)))
    assert sorted(set(users)) == ["gateways/jira_http.py"]
