"""Configuration from the environment (and an optional .env), validated once at start-up."""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class JiraDeployment(StrEnum):
    CLOUD = "cloud"
    DATACENTER = "datacenter"


class SettingsError(Exception):
    """A missing or malformed setting; the message is one line naming it, never its value."""


def cpu_count() -> int:
    """WEB_CONCURRENCY's and DOE_WORKER_PROCESSES's default: the CPUs this process may run on (its affinity where
    the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Slack
    slack_bot_token: SecretStr | None = None  # required by `serve` and `socket`; `render`/`create` need only Jira
    slack_signing_secret: SecretStr | None = None  # required in HTTP mode (doe-bot serve)
    slack_app_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")

    # Jira
    jira_url: AnyHttpUrl
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_pat: SecretStr | None = None
    jira_deployment: JiraDeployment | None = None  # derived from the credentials when unset
    jira_issue_type: str = "Task"
    jira_link_type: str = "Relates"
    jira_blocks_link_type: str = "Blocks"
    jira_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    jira_max_retries: int = Field(default=2, ge=0, le=5)
    jira_max_retry_delay_seconds: int = Field(default=5, ge=1, le=30)
    jira_retry_budget_seconds: float = Field(default=12.0, gt=0, le=120)
    jira_cache_ttl_seconds: int = Field(default=600, ge=0)
    # How long the form waits for Jira in all (the story, the search, the create screen) before it says so.
    doe_form_deadline_seconds: float = Field(default=12.0, gt=0, le=120)
    # Approve searches again for a DevOps task made meanwhile, unless the last search is younger than this.
    duplicate_recheck_after_seconds: int = Field(default=30, ge=0)
    # A create whose answer was lost may still land in Jira this long after it was sent: until then, Approve
    # looks for it and sends no other.
    doe_create_settle_seconds: int = Field(default=60, ge=0, le=3600)
    # An Approve untouched this long was left by an instance that died mid-create (or a Redis that dropped): the
    # sweeper, or the next click, looks the create up and ends it (bot/flow/sweeper.py).
    doe_approving_stale_seconds: int = Field(default=90, ge=1, le=3600)
    # How often each instance's sweeper looks for such drafts (one instance at a time holds its lease in Redis).
    doe_sweep_interval_seconds: float = Field(default=15.0, gt=0, le=600)

    # Who may approve, edit or cancel besides the requester: Slack user ids (U…/W…) and user group ids (S…).
    doe_approvers: str = ""

    # Drafts, story holds and the job queue: one Redis, given in one of three ways (bot/gateways/redis_connection.py):
    # a single server (REDIS_URL), a master found through Sentinel (REDIS_SENTINELS, host:port,host:port, and
    # REDIS_SENTINEL_MASTER), or a Redis Cluster (REDIS_CLUSTER_URL, any of its nodes).
    redis_url: str | None = None
    redis_sentinels: str | None = None
    redis_sentinel_master: str = Field(default="mymaster", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    redis_cluster_url: str | None = None
    redis_namespace: str = Field(default="doe", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    draft_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)

    # Templates and runtime
    doe_templates_dir: Path | None = None
    # How each worker process runs its steps, which mostly wait on Jira and Slack (one flow can hold two at once:
    # its Approve's follow-up, its next form): "gevent" (dramatiq's gevent runner, DOE_WORKER_GREENLETS steps at
    # once, none holding a thread while it waits) or "threads" (DOE_WORKER_THREADS threads). bench/README.md.
    doe_worker_pool: Literal["gevent", "threads"] = "gevent"
    doe_worker_greenlets: int = Field(default=512, ge=1, le=4096)
    # Threads in each threaded worker process, and without REDIS_URL in the web process (its listener executor).
    doe_worker_threads: int = Field(default=128, ge=1, le=512)
    # Worker processes `doe-bot serve` starts for the work after acks (bot/jobs.py; needs REDIS_URL); 0: none, run
    # `doe-bot worker` apart. Default: one per CPU but one, which stays free for the acks (bench/README.md).
    doe_worker_processes: int = Field(default_factory=lambda: max(1, cpu_count() - 1), ge=0, le=64)
    doe_attach_starter_files: bool = True
    # Per-project defaults for fields a site requires, e.g. {"KAN": {"components": ["Platform"]}}.
    doe_field_defaults: dict[str, dict[str, Any]] = Field(default_factory=dict)
    doe_set_reporter: bool = True  # the requester (Slack e-mail → Jira account) as reporter, where allowed
    doe_link_back_to_slack: bool = True  # a web link on the issue to the Slack preview
    doe_comment_on_story: bool = True  # a comment on the story naming the new task and who approved it
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    # `doe-bot serve`: the defaults of --host, --port, --workers (gunicorn worker processes) and --threads (each)
    host: str = Field(default="0.0.0.0", min_length=1)
    port: int = Field(default=3000, ge=1, le=65535)
    web_concurrency: int = Field(default_factory=cpu_count, ge=1, le=256)
    doe_http_threads: int = Field(default=32, ge=1, le=512)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_addresses(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        for address in value.split(","):
            host, _, port = address.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("must be host:port pairs separated by commas (e.g. 10.0.0.5:26379,10.0.0.6:26379)")
        return value

    @field_validator("redis_url", "redis_cluster_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("doe_templates_dir")
    @classmethod
    def _templates_dir_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not (value / "devops_task.jira.j2").is_file():
            raise ValueError("must be a folder containing devops_task.jira.j2")
        return value

    @field_validator("doe_approvers")
    @classmethod
    def _approvers(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if item and not re.fullmatch(r"[UWS][A-Z0-9]{2,}", item):
                raise ValueError(f"'{item}' is not a Slack user id (U…/W…) or user group id (S…)")
        return value

    @property
    def approver_users(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.doe_approvers.split(",") if p.strip()[:1] in ("U", "W"))

    @property
    def approver_groups(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.doe_approvers.split(",") if p.strip()[:1] == "S")

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @model_validator(mode="after")
    def _one_redis(self) -> Settings:
        given = [name for name in ("redis_url", "redis_sentinels", "redis_cluster_url") if getattr(self, name)]
        if len(given) > 1:
            raise ValueError(f"set one of {', '.join(n.upper() for n in given)}: they name three ways to one Redis")
        return self

    @model_validator(mode="after")
    def _settle_outlasts_a_create(self) -> Settings:
        # A create Jira has not answered within the timeout may land after it: a shorter window would let Approve
        # send another while the first is still on its way.
        if self.doe_create_settle_seconds < self.jira_timeout_seconds:
            raise ValueError(
                f"DOE_CREATE_SETTLE_SECONDS ({self.doe_create_settle_seconds}) must be at least JIRA_TIMEOUT_SECONDS "
                f"({self.jira_timeout_seconds:g}): a create that outlived the timeout may still land"
            )
        return self

    @model_validator(mode="after")
    def _jira_credentials(self) -> Settings:
        cloud = bool(self.jira_email) and self.jira_api_token is not None
        if self.jira_deployment is None:
            if cloud:
                self.jira_deployment = JiraDeployment.CLOUD
            elif self.jira_pat is not None:
                self.jira_deployment = JiraDeployment.DATACENTER
            else:
                raise ValueError("JIRA_EMAIL + JIRA_API_TOKEN (Jira Cloud) or JIRA_PAT (Data Center) is required")
        if self.jira_deployment is JiraDeployment.CLOUD and not cloud:
            raise ValueError("JIRA_EMAIL and JIRA_API_TOKEN are required for Jira Cloud")
        if self.jira_deployment is JiraDeployment.DATACENTER and self.jira_pat is None:
            raise ValueError("JIRA_PAT is required for Jira Data Center")
        return self

    def secret_values(self) -> list[str]:
        """Every secret this configuration holds, for the log filter that masks them (bot/logging_setup.py)."""
        values = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.jira_api_token,
            self.jira_pat,
        ]
        return [v.get_secret_value() for v in values if v is not None]

    @property
    def step_concurrency(self) -> int:
        """How many steps a worker process runs at once (DOE_WORKER_GREENLETS under gevent, else
        DOE_WORKER_THREADS): what its Jira and Redis connection pools are sized to."""
        return self.doe_worker_greenlets if self.doe_worker_pool == "gevent" else self.doe_worker_threads

    @property
    def uses_redis(self) -> bool:
        """Whether drafts and the job queue live in Redis (any of the three ways), not in this process."""
        return bool(self.redis_url or self.redis_sentinels or self.redis_cluster_url)

    @property
    def redis_key_namespace(self) -> str:
        """The prefix of every key: in a Redis Cluster a hash tag, so that all the keys of the drafts, the story holds
        and the job queue share one slot and WATCH/MULTI and scripts over several of them work there too."""
        return "{" + self.redis_namespace + "}" if self.redis_cluster_url else self.redis_namespace

    @property
    def slack_api_base_url(self) -> str:
        url = str(self.slack_api_url)
        return url if url.endswith("/") else url + "/"

    @property
    def jira_base_url(self) -> str:
        return str(self.jira_url).rstrip("/")


def load_settings(**overrides: object) -> Settings:
    """Build Settings or raise SettingsError with one line per problem, naming the variable, never its value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "is required"
            problems.append(f"{name} {message}" if name else message)
        raise SettingsError("; ".join(problems)) from None
