"""README.md stays true to the code: every setting is documented, every file its map names exists, and no removed
setting or module is still described."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in table]
    assert missing == []


def test_every_file_the_readme_names_exists() -> None:
    named = set(re.findall(r"`((?:bot|tests|bench|templates)/[\w./-]+)`", README))
    assert named, "the README names no file: has its map gone?"
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert missing == []


def test_the_architecture_map_lists_every_flow_step_module() -> None:
    section = README.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    steps = sorted(p.stem for p in (ROOT / "bot" / "flow").glob("*.py") if p.stem != "__init__")
    assert [s for s in steps if f"`{s}`" not in section and f"bot/flow/{s}.py" not in section] == []


def test_no_removed_setting_or_module_is_described() -> None:
    for gone in ("DOE_CPU_LANES", "DOE_LISTENER_THREADS", "bot/lane.py", "bot/flow.py", "DoeFlow"):
        assert gone not in README, gone
