"""Reading a story key out of what people type after /doe."""

from __future__ import annotations

import re

# Jira project keys: a letter, then letters, digits or underscores (up to 255, but real ones are short).
_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_]{0,49})-([0-9]{1,9})$")
_BROWSE = re.compile(r"/browse/([A-Za-z][A-Za-z0-9_]{0,49}-[0-9]{1,9})(?:[/?#]|$)")
_SELECTED = re.compile(r"[?&]selectedIssue=([A-Za-z][A-Za-z0-9_]{0,49}-[0-9]{1,9})")


def parse_story_key(text: str) -> str | None:
    """`KAN-15`, `kan-15`, ` KAN-15 `, `<https://x.atlassian.net/browse/KAN-15|…>` or a browse URL → `KAN-15`."""
    cleaned = text.strip().strip("<>").split("|", 1)[0].strip()
    if not cleaned or len(cleaned) > 2000:
        return None
    match = _KEY.match(cleaned)
    if match:
        return f"{match.group(1).upper()}-{int(match.group(2))}"
    if cleaned.lower().startswith(("http://", "https://")) and " " not in cleaned:
        found = _BROWSE.search(cleaned) or _SELECTED.search(cleaned)
        if found:
            project, number = found.group(1).rsplit("-", 1)
            return f"{project.upper()}-{int(number)}"
    return None


def is_help(text: str) -> bool:
    return text.strip().lower() in {"help", "-h", "--help", "?"}
