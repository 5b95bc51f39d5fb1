"""The one sandboxed Jinja environment both renderers are built on (bot/templating.py)."""

from __future__ import annotations

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.render import make_environment
from bot.starter import make_starter_environment


@pytest.mark.parametrize(
    ("make", "filters"),
    [
        (make_environment, {"code", "inline", "jira"}),
        (make_starter_environment, {"yaml_str", "json_str", "hcl_str", "comment", "label_value", "num"}),
    ],
    ids=["description", "starter"],
)
def test_both_environments_are_the_same_sandbox(make, filters) -> None:
    env = make()
    assert isinstance(env, ImmutableSandboxedEnvironment)
    assert env.undefined is StrictUndefined
    assert (env.autoescape, env.auto_reload) == (False, False)
    assert (env.trim_blocks, env.lstrip_blocks, env.keep_trailing_newline) == (True, True, True)
    assert filters <= set(env.filters)
    assert env.finalize is not None
