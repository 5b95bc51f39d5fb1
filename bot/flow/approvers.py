"""Who may approve, edit or cancel a draft: its requester, and DOE_APPROVERS (user ids, or members of user groups,
read from Slack and remembered for GROUP_CACHE_SECONDS). Checked on the server against the stored draft, never
against anything carried in the request."""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot.domain.draft import Draft
from bot.errors import NotAllowed
from bot.flow.slack_io import SLACK_FAILURES, slack_error
from bot.gateways.site_cache import SiteCache
from bot.settings import Settings

log = logging.getLogger(__name__)

#: How long user group members are remembered.
GROUP_CACHE_SECONDS = 300


class Approvers:
    def __init__(self, settings: Settings) -> None:
        self.users = settings.approver_users
        self.groups = settings.approver_groups
        self._members = SiteCache(GROUP_CACHE_SECONDS)

    def check(self, client: WebClient, *, draft: Draft, user_id: str, verb: str) -> None:
        """Raise NotAllowed (with the sentence the user sees) unless `user_id` may `verb` this draft."""
        requester = draft.conversation.requester_id
        if user_id == requester or user_id in self.users:
            return
        for group in self.groups:
            if user_id in self._group_members(client, group):
                return
        raise NotAllowed(
            f"Only <@{requester}>, who asked for this task, or an approver can {verb} it. Nothing was changed."
        )

    def _group_members(self, client: WebClient, group_id: str) -> frozenset[str]:
        def load() -> frozenset[str]:
            # https://api.slack.com/methods/usergroups.users.list (scope usergroups:read)
            return frozenset(client.usergroups_users_list(usergroup=group_id).get("users") or [])

        try:
            return self._members.get_or_load(group_id, load)
        except SLACK_FAILURES as exc:  # not remembered: the next check asks again
            log.warning("could not read user group %s: %s", group_id, slack_error(exc))
            return frozenset()
