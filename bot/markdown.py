"""Jira wiki markup → Markdown, for `doe-bot render --format markdown` (READMEs, PR descriptions, GitHub issues).

Covers what the templates produce: headings, bullets, bold, links, tables, {code}/{noformat}, {panel}, escapes.
Escaped story text stays literal: each Jira escape (``\\*``, ``\\[``, ``\\|`` … from bot.render.jira_escape), and
``<``, backticks and ``&entity;``, are held out of the reach of the rules below and come out as Markdown escapes,
which CommonMark shows as the character. tests/test_markdown.py checks all 27 cloud x CI x monitoring descriptions.

Why not jira2markdown (PyPI, 0.5.3)? Measured on those 27 descriptions, it mis-renders four things in them: a
``{code}`` block right after a bullet line is read as part of the list item (the ``{code:bash}`` and ``{code:yaml}``
blocks came out unconverted, their lines as numbered items, ``-`` pairs as strikethrough), so is a heading or
``{panel}`` after a bullet; ``{code:title=main.tf}`` becomes ```` ```Java ````; it has no rule for backslash escapes
(``\\*bold\\*`` became ``\\**bold\\**``, emphasis; ``\\\\`` a line break); ``<env>`` stays raw HTML. Wrapped
with those fixes (about 45 lines: code blocks cut out first, escapes held out, a blank line after lists) it gave the
same HTML as this converter on all 27, with and without markup characters in the story, but took 4.2 s per
description against 1 ms here (pyparsing tries ~170 matches per character): seconds added to every
`render --format markdown`, and two minutes to the tests of the 27.
"""

from __future__ import annotations

import re

_CODE_OPEN = re.compile(r"^\{(code|noformat)(?::([^}]*))?\}\s*$")
_PANEL = re.compile(r"^\{panel(?::([^}]*))?\}\s*$")
_HEADING = re.compile(r"^h([1-6])\.\s+(.*)$")
_LINK = re.compile(r"\[([^\[\]|]+)\|([^\[\]\s]+)\]")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_BULLET = re.compile(r"^(\*+)\s+(.*)$")

# What is held out of the rules: a Jira escape (bot.render._JIRA_SPECIAL, and the dot of a broken "h1\."), the
# characters Markdown would read as HTML or a code span, and the hold mark itself.
_HELD = re.compile(r"\\([\\{}\[\]|*_\-+^~?!#.])|[<`]|&(?=#?\w+;)|\ue000")
_MARK = "\ue000"  # a private-use character: none of the rules above match it
_PLAIN_IN_WORD = set("-_+")  # markup in Markdown only at the edge of a word (bullets, emphasis)


def _hold(line: str) -> tuple[str, list[str]]:
    """The line with every escape (and <, `, &entity;) replaced by a mark, and the Markdown for each mark."""
    held: list[str] = []

    def mark(match: re.Match[str]) -> str:
        char = match.group(1)
        before, after = line[match.start() - 1 : match.start()], line[match.end() : match.end() + 1]
        if char is None:
            held.append(_MARK if match.group(0) == _MARK else "\\" + match.group(0))
        elif char in _PLAIN_IN_WORD and before.isalnum() and after.isalnum():
            held.append(char)  # "ci-cd" rather than "ci\-cd"
        else:
            held.append("\\" + char)
        return _MARK

    return _HELD.sub(mark, line), held


def _restore(text: str, held: list[str]) -> str:
    marks = iter(held)
    return re.sub(_MARK, lambda _: next(marks), text)


def _links_and_bold(text: str) -> str:
    text = _LINK.sub(lambda m: f"[{m.group(1)}]({m.group(2)})", text)
    return _BOLD.sub(lambda m: f"**{m.group(1)}**", text)


def _inline(line: str) -> str:
    text, held = _hold(line)
    return _restore(_links_and_bold(text), held)


def _row(line: str, separator: str) -> tuple[str, int]:
    """A table row and its number of cells: split where the separator is not escaped, cells converted like lines."""
    text, held = _hold(line.strip())
    cells = [_links_and_bold(cell.strip()) for cell in text.strip("|").split(separator)]
    return _restore("| " + " | ".join(cells) + " |", held), len(cells)


def _language(params: str | None) -> str:
    if not params:
        return ""
    first = params.split("|")[0]
    return "" if "=" in first else first.strip()


def _title(params: str | None) -> str:
    for param in (params or "").split("|"):
        name, _, value = param.partition("=")
        if name.strip() == "title" and value.strip():
            return value.strip()
    return ""


def _fenced(language: str, body: list[str]) -> list[str]:
    """A fenced block longer than any run of backticks in the body, so story text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", "\n".join(body))), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + language, *body, fence]


def jira_to_markdown(text: str) -> str:
    out: list[str] = []
    code: tuple[str, str, list[str]] | None = None  # (closing tag, language, body lines)
    quote = ""  # "> " inside a {panel}
    table_header_done = False
    for line in text.splitlines():
        if code:
            closing, language, body = code
            if line.strip() == closing:
                out.extend(quote + fenced for fenced in _fenced(language, body))
                code = None
            else:
                body.append(line)
            continue
        opened = _CODE_OPEN.match(line.strip())
        if opened:
            code = ("{" + opened.group(1) + "}", _language(opened.group(2)), [])
            continue
        panel = _PANEL.match(line.strip())
        if panel:
            if quote:  # the closing {panel}: a blank line, so what follows is not quoted
                quote = ""
                out.append("")
            else:
                quote = "> "
                title = _title(panel.group(1))
                out.append(f"> **{_inline(title)}**" if title else ">")
            continue
        heading = _HEADING.match(line)
        if heading:
            out.append(quote + "#" * int(heading.group(1)) + " " + _inline(heading.group(2)))
            continue
        if line.startswith("||"):
            row, cells = _row(line, "||")
            if out and out[-1].strip(" >"):
                out.append(quote.strip())
            out.append(quote + row)
            out.append(quote + "|" + "---|" * cells)
            table_header_done = True
            continue
        if line.startswith("|") and table_header_done:
            out.append(quote + _row(line, "|")[0])
            continue
        table_header_done = False
        bullet = _BULLET.match(line)
        if bullet:
            out.append(quote + "  " * (len(bullet.group(1)) - 1) + "- " + _inline(bullet.group(2)))
            continue
        out.append(quote + _inline(line) if line.strip() else quote.strip())
    if code:  # never closed: Jira shows the rest as code too
        out.extend(quote + fenced for fenced in _fenced(code[1], code[2]))
    return "\n".join(out).strip() + "\n"
