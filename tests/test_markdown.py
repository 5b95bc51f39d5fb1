"""`--format markdown`: the Jira description of every cloud x CI x monitoring choice converted by bot.markdown, then
read back with a CommonMark parser (markdown-it-py, GFM tables on) to check what a reader of the Markdown sees."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.domain.task import Dependencies, Dependency
from bot.markdown import jira_to_markdown
from bot.render import TaskRenderer
from tests.support.jira_markup import code_blocks, table_cells, text_outside_code
from tests.test_templates import COMBINATION_IDS, COMBINATIONS, make_context, make_story

SUMMARY = r"Pay *bold* [link|http://x] <!channel> back\slash C:\dir\ _u_ -strike- {code} h1. x <b>tag</b> ```"
REQUESTER = "Alice *Example* [~accountid:x]"
WARNING = r"No *database* task yet [see|http://warn.example] \o/"

_PARSER = MarkdownIt("commonmark").enable("table")

#: Descriptions with component sections, one per base: {name: (cloud, ci, monitoring, components, archetype)}.
WITH_COMPONENTS = {
    "components-service": (Cloud.AZURE, CIPlatform.JENKINS, MonitoringStack.DATADOG,
                           [c for c in Component if c != Component.STATIC_SITE], Archetype.SERVICE),
    "components-workers": (Cloud.AWS, CIPlatform.GITLAB_CI, MonitoringStack.CLOUDWATCH,
                           [Component.QUEUE, Component.SCHEDULED_JOBS, Component.DATABASE], Archetype.WORKERS),
    "components-gpu": (Cloud.GCP, CIPlatform.GITHUB_ACTIONS, MonitoringStack.PROMETHEUS_GRAFANA,
                       [Component.GPU_INFERENCE, Component.OBJECT_STORAGE], Archetype.GPU_INFERENCE),
    "components-static-site": (Cloud.GCP, CIPlatform.GITLAB_CI, MonitoringStack.CLOUDWATCH,
                               [Component.STATIC_SITE, Component.SECRETS, Component.QUEUE], Archetype.STATIC_SITE),
}  # fmt: skip
NAMES = [*COMBINATION_IDS, *WITH_COMPONENTS]


@pytest.fixture(scope="module")
def renderer() -> TaskRenderer:
    return TaskRenderer()


@pytest.fixture(scope="module")
def converted(renderer: TaskRenderer) -> dict[str, tuple[str, str]]:
    """{combination id: (Jira description, its Markdown)}, with markup characters in the story text."""
    story = make_story(summary=SUMMARY, description="Line *one*\n```\n{code}\n[x|http://y]\n<!here>")
    dependencies = Dependencies(
        requires=[Dependency(role="backend", what="Health endpoints *and* [env|http://e]", key="KAN-26")],
        warnings=[WARNING],
    )
    out = {}
    for (cloud, ci, monitoring), name in zip(COMBINATIONS, COMBINATION_IDS, strict=True):
        context = make_context(cloud, ci, monitoring, story=story, dependencies=dependencies)
        context.requester = REQUESTER
        jira = renderer.render_description(context)
        out[name] = (jira, jira_to_markdown(jira))
    for name, (cloud, ci, monitoring, components, archetype) in WITH_COMPONENTS.items():
        overrides = Overrides(components=components, archetype=archetype)
        context = make_context(cloud, ci, monitoring, story=story, dependencies=dependencies, overrides=overrides)
        context.requester = REQUESTER
        jira = renderer.render_description(context)
        assert "h2. Infrastructure components" in jira
        out[name] = (jira, jira_to_markdown(jira))
    return out


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


@pytest.mark.parametrize("name", NAMES)
class TestEveryCombination:
    def test_headings(self, converted, name):
        jira, markdown = converted[name]
        headings = re.finditer(r"(?m)^h([1-6])\. (.*)$", text_outside_code(jira))
        expected = [(int(m[1]), re.sub(r"\\(.)", r"\1", m[2])) for m in headings]  # as Jira shows them: unescaped
        tokens = _PARSER.parse(markdown)
        found = [
            (int(tokens[i].tag[1]), tokens[i + 1].content)
            for i in range(len(tokens))
            if tokens[i].type == "heading_open"
        ]
        assert found == expected
        assert all(tokens[i].level == 0 for i in range(len(tokens)) if tokens[i].type == "heading_open")

    def test_code_blocks_are_fenced_with_their_language_and_verbatim(self, converted, name):
        jira, markdown = converted[name]
        expected = []
        for block in code_blocks(jira):
            language = "" if block.macro == "noformat" or "=" in block.params else block.params
            expected.append((language, block.body.removeprefix("\n")))
        fences = [(t.info, t.content) for t in _PARSER.parse(markdown) if t.type == "fence"]
        assert fences == expected
        assert any(info == "" for info, _ in fences)
        if name in COMBINATION_IDS:
            assert any(info == "yaml" for info, _ in fences)

    def test_tables(self, converted, name):
        jira, markdown = converted[name]
        headers = [line for line in text_outside_code(jira).splitlines() if line.startswith("||")]
        tokens = _PARSER.parse(markdown)
        tables = [i for i, t in enumerate(tokens) if t.type == "table_open"]
        assert len(tables) == len(headers) > 0
        for start, header in zip(tables, headers, strict=True):
            end = next(i for i in range(start, len(tokens)) if tokens[i].type == "tr_close")
            assert sum(t.type == "th_open" for t in tokens[start:end]) == table_cells(header)

    def test_links(self, converted, name):
        jira, markdown = converted[name]
        expected = re.findall(r"(?<!\\)\[([^\[\]|\\]+)\|([^\[\]\s]+)\]", text_outside_code(jira))
        html = _PARSER.render(markdown)
        found = re.findall(r'<a href="([^"]*)">([^<]*)</a>', html)
        assert sorted(found) == sorted((url, text) for text, url in expected)
        assert ("https://example.atlassian.net/browse/KAN-15", "KAN-15") in found

    def test_the_warnings_panel_is_a_quote_with_its_title(self, converted, name):
        _, markdown = converted[name]
        tokens = _PARSER.parse(markdown)
        quotes = [t for t in tokens if t.type == "blockquote_open"]
        assert len(quotes) == 1 and quotes[0].level == 0
        html = _PARSER.render(markdown)
        assert "<blockquote>\n<p><strong>Warnings</strong></p>\n<ul>\n<li>" + WARNING.replace("\\", "\\") in html

    def test_no_jira_markup_left(self, converted, name):
        _, markdown = converted[name]
        prose = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1$", "", markdown)  # fenced blocks out
        assert not re.search(r"(?m)^\s*h[1-6]\.", prose)
        assert not re.search(r"(?<!\\)\{(code|noformat|panel|quote)", prose)
        assert "||" not in prose

    def test_story_text_stays_literal(self, converted, name):
        _, markdown = converted[name]
        html = _PARSER.render(markdown)
        text = visible_text(html)
        assert f"Story: KAN-15 {SUMMARY}" in text
        assert f"Requested by: {REQUESTER}" in text
        assert WARNING in text
        assert "Health endpoints *and* [env|http://e]" in text
        assert "http://x" not in re.findall(r'href="([^"]*)"', html)
        assert "<b>" not in html and "<u>" not in html and "<del>" not in html


def test_a_block_cannot_be_closed_by_story_text() -> None:
    markdown = jira_to_markdown("{noformat}\n``` not the end\n````\n{noformat}\nafter")
    fences = [t for t in _PARSER.parse(markdown) if t.type == "fence"]
    assert [t.content for t in fences] == ["``` not the end\n````\n"]
