"""manifest.yml must match what the code registers."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.ids import BOT_SCOPES, COMMANDS, EVENTS_PATH

MANIFEST = yaml.safe_load((Path(__file__).resolve().parent.parent / "manifest.yml").read_text())


def test_commands_match_the_code() -> None:
    commands = MANIFEST["features"]["slash_commands"]
    assert sorted(c["command"] for c in commands) == sorted(COMMANDS)
    for command in commands:
        assert command["url"].endswith(EVENTS_PATH)
        assert command["should_escape"] is False
        assert len(command["description"]) <= 100


def test_interactivity_points_at_the_events_path() -> None:
    interactivity = MANIFEST["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].endswith(EVENTS_PATH)
    # The story picker's typeahead (external_select) loads its options from the app.
    assert interactivity["message_menu_options_url"].endswith(EVENTS_PATH)
    assert MANIFEST["settings"]["socket_mode_enabled"] in (True, False)


def test_bot_scopes_are_exactly_what_the_code_needs() -> None:
    assert sorted(MANIFEST["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)


def test_bolt_registers_every_manifest_command(tmp_path) -> None:
    from bot.app import build_app
    from bot.gateways.draft_store import MemoryDraftStore
    from bot.settings import load_settings

    settings = load_settings(
        _env_file=None,
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        jira_url="http://127.0.0.1:9",
        jira_pat="p",
    )
    app = build_app(settings, store=MemoryDraftStore(ttl_seconds=60))
    registered = set()
    for listener in app._listeners:
        for matcher in listener.matchers:
            func = getattr(matcher, "func", None)
            for cell in getattr(func, "__closure__", None) or ():
                if isinstance(cell.cell_contents, str) and cell.cell_contents.startswith("/"):
                    registered.add(cell.cell_contents)
    assert registered >= set(COMMANDS)
