"""doe-bot: a Slack app that writes the DevOps task for a Jira story."""

__version__ = "0.1.0"
