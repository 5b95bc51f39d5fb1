"""Jira wiki markup → Markdown, for `doe-bot render --format markdown` (READMEs, PR descriptions, GitHub issues).

Covers what the templates produce: headings, bullets, bold, links, tables, {code}/{noformat}, {panel}, escapes.
"""

from __future__ import annotations

import re

_CODE_OPEN = re.compile(r"^\{(code|noformat)(?::([^}]*))?\}\s*$")
_HEADING = re.compile(r"^h([1-6])\.\s+(.*)$")
_LINK = re.compile(r"\[([^\[\]|]+)\|([^\[\]\s]+)\]")
_BOLD = re.compile(r"(?<![\\\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ESCAPED = re.compile(r"\\([\\{}\[\]|*_\-+^~?!#.])")


def _inline(text: str) -> str:
    text = _LINK.sub(lambda m: f"[{m.group(1)}]({m.group(2)})", text)
    text = _BOLD.sub(lambda m: f"**{m.group(1)}**", text)
    return _ESCAPED.sub(r"\1", text)


def _language(params: str | None) -> str:
    if not params:
        return ""
    first = params.split("|")[0]
    return "" if "=" in first else first.strip()


def jira_to_markdown(text: str) -> str:
    out: list[str] = []
    in_code: str | None = None
    table_header_done = False
    for line in text.splitlines():
        if in_code:
            if line.strip() in ("{code}", "{noformat}"):
                out.append("```")
                in_code = None
            else:
                out.append(line)
            continue
        opened = _CODE_OPEN.match(line.strip())
        if opened:
            in_code = opened.group(1)
            out.append("```" + _language(opened.group(2)))
            continue
        if line.strip().startswith("{panel") or line.strip() == "{panel}":
            continue
        heading = _HEADING.match(line)
        if heading:
            out.append("#" * int(heading.group(1)) + " " + _inline(heading.group(2)))
            continue
        if line.startswith("||"):
            cells = [c.strip() for c in line.strip().strip("|").split("||")]
            if out and out[-1].strip():
                out.append("")
            out.append("| " + " | ".join(_inline(c) for c in cells) + " |")
            out.append("|" + "---|" * len(cells))
            table_header_done = True
            continue
        if line.startswith("|") and table_header_done:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out.append("| " + " | ".join(_inline(c) for c in cells) + " |")
            continue
        table_header_done = False
        bullet = re.match(r"^(\*+)\s+(.*)$", line)
        if bullet:
            out.append("  " * (len(bullet.group(1)) - 1) + "- " + _inline(bullet.group(2)))
            continue
        out.append(_inline(line))
    return "\n".join(out).strip() + "\n"
