"""Typed errors. Each carries the sentence the user sees in Slack; none carries a secret."""

from __future__ import annotations


class DoeError(Exception):
    """Base: `user_message` is safe to show in Slack as is (mrkdwn)."""

    user_message = "Something went wrong. Nothing was created; please try again."

    def __init__(self, user_message: str | None = None) -> None:
        if user_message is not None:
            self.user_message = user_message
        super().__init__(self.user_message)


class StoryNotFound(DoeError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"I couldn't find *{key}* in Jira, or I'm not allowed to see it. "
            "Check the key, or ask a Jira admin to give the doe-bot account access to that project."
        )


class JiraAuthError(DoeError):
    user_message = "Jira refused doe-bot's credentials. An admin needs to check JIRA_EMAIL/JIRA_API_TOKEN or JIRA_PAT."


class JiraForbidden(DoeError):
    """Jira understood who doe-bot is (the credentials work) and refused the action: its reason, in its words."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__(
            f"Jira did not let doe-bot do this: {'; '.join(reasons)} A Jira admin can give the doe-bot account "
            "that permission in the project."
        )


class JiraUnavailable(DoeError):
    user_message = "Jira did not answer in time. Nothing was created; try again in a minute."


class JiraNotJson(JiraUnavailable):
    """Jira's address answered with a web page (a login page, a proxy's error page) instead of its REST API."""

    user_message = (
        "Jira's address answered with a web page instead of Jira's API (a login page, or the error page of a proxy "
        "in front of Jira). Nothing was created; an admin should check JIRA_URL and that proxy."
    )


class JiraAnswerIncomplete(JiraUnavailable):
    """Jira (or whatever answers at its address) answered 2xx with JSON that lacks what every such answer has (an
    issue without its key)."""

    user_message = (
        "Jira answered in a shape doe-bot does not recognise (an issue without its key). Nothing was created; try "
        "again, and if it persists an admin should check what answers at JIRA_URL."
    )


class JiraOutcomeUnknown(JiraUnavailable):
    """A create whose answer was lost (timeout, dropped connection) or unclear (5xx, a web page): Jira may or may
    not have made it. `answered`: Jira did answer, so it is done with the request and a look-up now is final; a
    lost answer may still be followed by the issue landing (the settle window, DOE_CREATE_SETTLE_SECONDS)."""

    user_message = (
        "Jira did not confirm the creation. I'll check for the task before any retry, so clicking *Approve* "
        "again cannot create it twice."
    )

    def __init__(self, *, answered: bool = False) -> None:
        self.answered = answered
        super().__init__()


class CreateStillSettling(DoeError):
    """An earlier create's answer was lost and Jira may still be making the issue: nothing new is sent yet."""

    def __init__(self, seconds_left: float) -> None:
        super().__init__(
            "The task from the last *Approve* may still be on its way into Jira (its answer was lost), and it is not "
            f"there yet. Nothing new was sent, so it cannot be created twice: click *Approve* again in "
            f"{max(1, round(seconds_left))} s."
        )


class LookupFailed(JiraUnavailable):
    """Jira did not answer while doe-bot looked for the issue of an earlier create whose answer was lost."""

    user_message = (
        "Jira did not answer while doe-bot looked for the task from the last *Approve*, whose answer was lost. "
        "Nothing new was sent; doe-bot keeps looking, and shows the task here if Jira made it."
    )


class CreateNotFound(DoeError):
    """An Approve left unfinished (its worker stopped, or Redis dropped): its create is not in Jira."""

    user_message = (
        "The last *Approve* was interrupted before Jira confirmed it, and the task is not in Jira. "
        "Click *Approve* to try again: doe-bot looks for it once more before creating it."
    )


class ApproveInterrupted(DoeError):
    """Something unexpected stopped an Approve: a create may or may not have gone out."""

    user_message = (
        "Something went wrong on doe-bot's side while creating the task. If Jira made it, doe-bot finds it and "
        "shows it here; clicking *Approve* again looks for it before creating another, so it cannot be made twice."
    )


class JiraRejected(DoeError):
    """Jira answered 4xx to a create: the reason, in Jira's own words, naming the field."""

    def __init__(self, status: int, reasons: list[str]) -> None:
        self.status = status
        self.reasons = reasons
        text = "; ".join(reasons) or f"HTTP {status}"
        super().__init__(f"Jira refused to create the task: {text}")


class DraftGone(DoeError):
    user_message = (
        "This draft is no longer available (it expired or was cancelled). Run the command again to start over."
    )


class DraftUnreadable(DoeError):
    user_message = (
        "This draft could not be read (it was damaged, or written by a version of doe-bot this one does not know), "
        "so it was set aside. Nothing was created in Jira: run the command again to start over."
    )


class StoreUnavailable(DoeError):
    user_message = "doe-bot can't reach its draft store right now. Nothing was changed; try again shortly."


class NotAllowed(DoeError):
    pass
