"""A small validator for Jira wiki markup (the REST v2 description format), for tests.

``check_jira_markup(text)`` returns a list of human readable problems; an empty list means the text looks like
well-formed wiki markup with no Markdown left in it. It checks:

- block macros ``{code}``/``{code:…}``, ``{noformat}``, ``{quote}``, ``{panel}``/``{panel:…}`` are balanced and closed
  (inside ``{code}`` and ``{noformat}`` everything up to the closing tag is literal, as in Jira);
- Markdown leftovers outside code blocks: ``` fences, lines starting with ``#`` and a space (Markdown headings; house
  style uses ``*`` bullets, never ``#`` lists, because the two cannot be told apart), ``- [ ]`` checkboxes,
  ``**bold**``, ``[text](url)`` links, ``|---|`` table separators, ``===`` underlines;
- headings other than ``h1.`` to ``h6.`` followed by a space and some text;
- table rows whose cell count differs from the table's first (header) row.

Escaped characters (``\\{``, ``\\|``, ``\\[`` …) are text, not markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MACRO = re.compile(r"(?<!\\)\{(code|noformat|quote|panel)(:[^{}\n]*)?\}", re.IGNORECASE)

_MD_FENCE = re.compile(r"```")
_MD_HEADING = re.compile(r"^\s*#+\s")
_MD_CHECKBOX = re.compile(r"^\s*[-*+]\s+\[[ xX]?\]")
_MD_BOLD = re.compile(r"(?<![\\*])\*\*(?![\s*])[^*\n]+?(?<!\s)\*\*(?!\*)")
_MD_LINK = re.compile(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\((?:https?://|/|#)")
_MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$")
_MD_SETEXT = re.compile(r"^\s*={3,}\s*$")
_HEADING_LIKE = re.compile(r"^\s*h(\d+)\.(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class CodeBlock:
    """One {code}/{noformat} block: its macro name, parameters (``yaml`` in ``{code:yaml}``), body and line."""

    macro: str
    params: str
    body: str
    line: int


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _scan(text: str) -> tuple[list[str], list[CodeBlock], str]:
    """Balance the block macros; return (problems, literal blocks, text with literal blocks blanked out)."""
    problems: list[str] = []
    blocks: list[CodeBlock] = []
    stack: list[tuple[str, str, int, int]] = []  # (macro, params, start of tag, end of tag)
    literal_spans: list[tuple[int, int]] = []

    for match in _MACRO.finditer(text):
        name = match.group(1).lower()
        params = (match.group(2) or "")[1:]
        top = stack[-1][0] if stack else None
        if top in ("code", "noformat"):
            # Literal content: only the plain closing tag of the same macro ends it.
            if name == top and not params:
                macro, open_params, start, body_start = stack.pop()
                blocks.append(CodeBlock(macro, open_params, text[body_start : match.start()], _line_of(text, start)))
                literal_spans.append((start, match.end()))
            continue
        if name in ("code", "noformat") or params:
            stack.append((name, params, match.start(), match.end()))
        elif top == name:
            stack.pop()
        elif any(entry[0] == name for entry in stack):
            problems.append(
                f"line {_line_of(text, match.start())}: {{{name}}} closes a block while {{{top}}} is still open"
            )
            while stack and stack[-1][0] != name:
                stack.pop()
            stack.pop()
        else:
            stack.append((name, params, match.start(), match.end()))

    for macro, _params, start, _body_start in stack:
        problems.append(f"line {_line_of(text, start)}: {{{macro}}} is never closed")
        if macro in ("code", "noformat"):
            literal_spans.append((start, len(text)))

    chars = list(text)
    for start, end in literal_spans:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return problems, blocks, "".join(chars)


def text_outside_code(text: str) -> str:
    """The text with every {code}/{noformat} block (tags included) blanked out; line numbers are kept."""
    return _scan(text)[2]


def code_blocks(text: str) -> list[CodeBlock]:
    """Every closed {code…}/{noformat} block, in order of their closing tags."""
    return sorted(_scan(text)[1], key=lambda block: block.line)


def table_cells(row: str) -> int:
    """Number of cells in a wiki table row; ``\\|`` and pipes inside ``[link|url]`` do not split cells."""
    row = row.strip()
    delimiters = 0
    depth = 0
    last_delimiter_end = -1
    i = 0
    while i < len(row):
        char = row[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif char == "|" and depth == 0:
            i += 2 if row.startswith("||", i) else 1
            delimiters += 1
            last_delimiter_end = i
            continue
        i += 1
    return delimiters - 1 if last_delimiter_end == len(row) else delimiters


def _check_lines(visible: str) -> list[str]:
    problems: list[str] = []
    table: list[tuple[int, str]] = []

    def close_table() -> None:
        if table:
            header_line, header = table[0]
            expected = table_cells(header)
            for number, row in table[1:]:
                found = table_cells(row)
                if found != expected:
                    problems.append(
                        f"line {number}: table row has {found} cells, the header on line {header_line} has {expected}"
                    )
            table.clear()

    for number, line in enumerate(visible.split("\n"), start=1):
        if line.lstrip().startswith("|"):
            if _MD_TABLE_RULE.match(line):
                problems.append(f"line {number}: Markdown table separator row")
            else:
                table.append((number, line))
            continue
        close_table()
        if _MD_FENCE.search(line):
            problems.append(f"line {number}: Markdown code fence ```")
        if _MD_HEADING.match(line):
            problems.append(f"line {number}: Markdown heading or '#' list (use hN. / '*' bullets): {line.strip()!r}")
        if _MD_CHECKBOX.match(line):
            problems.append(f"line {number}: Markdown checkbox: {line.strip()!r}")
        if _MD_BOLD.search(line):
            problems.append(f"line {number}: Markdown **bold** (Jira uses *bold*)")
        if _MD_LINK.search(line):
            problems.append(f"line {number}: Markdown [text](url) link (Jira uses [text|url])")
        if _MD_SETEXT.match(line):
            problems.append(f"line {number}: Markdown === heading underline")
        heading = _HEADING_LIKE.match(line)
        if heading:
            level, rest = int(heading.group(1)), heading.group(2)
            if not 1 <= level <= 6:
                problems.append(f"line {number}: heading level h{level}. does not exist (h1. to h6.)")
            elif not rest.startswith(" ") or not rest.strip():
                problems.append(f"line {number}: heading needs a space and a title: {line.strip()!r}")
    close_table()
    return problems


def check_jira_markup(text: str) -> list[str]:
    """Problems in ``text`` as Jira wiki markup; [] when none were found."""
    problems, _blocks, visible = _scan(text)
    return problems + _check_lines(visible)
