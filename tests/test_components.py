"""Story-aware infrastructure (bot/domain/components.py): components, archetype, figures and roles read from a story.

Pure tests against the real rules file, templates/components.toml. No Slack, Jira or Redis.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.domain.components import (
    QUOTE_CHARS,
    REASON_CHARS,
    RULES_FILE,
    Archetype,
    Component,
    Detected,
    Detection,
    Evidence,
    archetype_for,
    detect,
    load_rules,
)
from bot.domain.estimate import SCAN_CHARS
from bot.domain.models import SiblingTask, Story
from tests.support.cost import LINEAR_BOUND_SECONDS, best_cpu_seconds
from tests.test_story_text_cost import HOSTILE, SIZE

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
RULES = load_rules(TEMPLATES)


def _story(summary: str, description: str = "", **kw: object) -> Story:
    return Story(key="KAN-15", summary=summary, url="u", project_key="KAN", description=description, **kw)


def _detect(summary: str, description: str = "", **kw: object) -> Detection:
    siblings = kw.pop("siblings", None)
    jira_components = kw.pop("jira_components", ())
    return detect(_story(summary, description, **kw), siblings=siblings, jira_components=jira_components, rules=RULES)


def _found(detection: Detection) -> dict[str, str | None]:
    return {d.component.value: d.flavor for d in detection.components}


# -- golden stories ----------------------------------------------------------------------------------------------

CHECKOUT = (
    "Checkout API",
    "As a shopper I want to pay for my basket in one step.\n"
    "The checkout API stores orders in a PostgreSQL 16 database and keeps a Redis cache for hot product reads. "
    "Payment confirmations are processed by Celery workers. A nightly reconciliation job compares the day's orders "
    "with the payment provider's report.\n"
    "h3. Acceptance criteria\n"
    "* p95 under 200 ms at 300 requests per second\n"
    "* RTO of 1 hour, RPO 5 minutes",
)
GPU = (
    "GPU inference service for the support assistant",
    "Serve our LLM with vLLM on GPUs, p95 under 800 ms, models stored in a bucket.",
)
STATIC = (
    "Marketing site relaunch",
    "A static single-page marketing site on a CDN for the spring campaign, with the new brand colours and copy.",
)
PLAIN_API = ("List invoices", "Add a REST API endpoint that returns a customer's invoices as JSON, newest first.")
NO_SIGNALS = ("Improve onboarding copy", "Rewrite the welcome texts so that new users understand the first steps.")
WORKERS = ("Nightly export", "A nightly export job that reads from SQS and writes reports to S3.")

GOLDEN = {
    "checkout": (
        CHECKOUT,
        {"database": "postgresql", "cache": "redis", "queue": "celery", "scheduled_jobs": None},
        Archetype.SERVICE,
    ),
    "gpu": (GPU, {"object_storage": None, "gpu_inference": "vllm"}, Archetype.GPU_INFERENCE),
    "static": (STATIC, {"static_site": None}, Archetype.STATIC_SITE),
    "plain api": (PLAIN_API, {}, Archetype.SERVICE),
    "no signals": (NO_SIGNALS, {}, Archetype.SERVICE),
    "workers": (WORKERS, {"queue": "sqs", "scheduled_jobs": None, "object_storage": None}, Archetype.WORKERS),
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_stories_get_exactly_their_components_and_archetype(name: str) -> None:
    (summary, description), components, archetype = GOLDEN[name]
    detection = _detect(summary, description)
    assert _found(detection) == components
    assert detection.archetype == archetype
    assert [d.component for d in detection.components] == sorted(
        (d.component for d in detection.components), key=list(Component).index
    )


def test_golden_reasons_quote_the_story() -> None:
    checkout = _detect(*CHECKOUT)
    assert checkout.get(Component.DATABASE).reason.startswith('PostgreSQL: "')
    assert "PostgreSQL 16 database" in checkout.get(Component.DATABASE).reason
    assert checkout.get(Component.CACHE).reason.startswith('Redis: "')
    assert checkout.get(Component.QUEUE).reason == 'Celery: "Payment confirmations are processed by Celery workers"'
    assert "nightly reconciliation job" in checkout.get(Component.SCHEDULED_JOBS).reason
    assert checkout.archetype_reason == 'HTTP service: "Checkout API"'
    gpu = _detect(*GPU)
    assert gpu.archetype_reason == 'GPU inference: "GPU inference service for the support assistant"'
    assert gpu.get(Component.GPU_INFERENCE).reason.startswith('vLLM: "')
    static = _detect(*STATIC)
    assert static.archetype_reason.startswith('Static site, no API or backend: "')
    workers = _detect(*WORKERS)
    assert workers.archetype_reason.startswith("Workers, no API: ") and "SQS" in workers.archetype_reason
    assert _detect(*NO_SIGNALS).archetype_reason.startswith("Service on Kubernetes (the default")
    assert _detect(*PLAIN_API).archetype_reason.startswith('HTTP service: "')


# -- paraphrases and near misses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "component", "flavor"),
    [
        ("Orders live in Postgres.", "database", "postgresql"),
        ("We run PostgreSQL 16 on RDS.", "database", "postgresql"),
        ("Move the ledger to Aurora PostgreSQL.", "database", "postgresql"),
        ("The data sits in Aurora.", "database", None),
        ("Use Cloud SQL for the accounts table.", "database", None),
        ("Store it in a relational DB.", "database", None),
        ("The legacy app uses MySQL 8.", "database", "mysql"),
        ("Migrate the forum to MariaDB.", "database", "mariadb"),
        ("A Redis cache in front of the catalogue.", "cache", "redis"),
        ("Sessions are kept in Memcached.", "cache", "memcached"),
        ("We cache hot reads for 60 seconds.", "cache", None),
        ("ElastiCache holds the carts.", "cache", "redis"),
        ("Celery workers send the e-mails.", "queue", "celery"),
        ("E-mails are sent by background jobs.", "queue", None),
        ("Push each event onto a job queue.", "queue", None),
        ("A RabbitMQ exchange fans out the orders.", "queue", "rabbitmq"),
        ("Messages arrive on SQS.", "queue", "sqs"),
        ("Subscribe to the Pub/Sub topic.", "queue", "pubsub"),
        ("Use Azure Service Bus for commands.", "queue", "servicebus"),
        ("A task queue renders the thumbnails.", "queue", None),
        ("A message queue decouples billing.", "queue", None),
        ("A nightly job rebuilds the index.", "scheduled_jobs", None),
        ("Every night we compact the data.", "scheduled_jobs", None),
        ("It runs from cron at 02:00.", "scheduled_jobs", None),
        ("A scheduled export at 6am.", "scheduled_jobs", None),
        ("An hourly batch aggregates the events.", "scheduled_jobs", None),
        ("A Kubernetes CronJob sends the digest.", "scheduled_jobs", None),
        ("Every Monday at 8am, e-mail the digest.", "scheduled_jobs", None),
        ("Put the files in an S3 bucket.", "object_storage", None),
        ("Object storage for the PDFs.", "object_storage", None),
        ("Customers can attach file uploads.", "object_storage", None),
        ("Azure Blob Storage for images.", "object_storage", None),
        ("Images are kept in GCS.", "object_storage", None),
        ("A static website for the docs.", "static_site", None),
        ("Ship it as an SPA behind CloudFront.", "static_site", None),
        ("A landing page for the campaign.", "static_site", None),
        ("A single-page application for the event.", "static_site", None),
        ("It runs on a GPU node pool.", "gpu_inference", None),
        ("Kernels are written in CUDA.", "gpu_inference", None),
        ("Model inference for fraud scores.", "gpu_inference", None),
        ("LLM serving with Triton.", "gpu_inference", "triton"),
        ("vLLM on two H100s.", "gpu_inference", "vllm"),
        ("Read the secrets from Vault.", "secrets", None),
        ("Rotate the API keys every month.", "secrets", None),
        ("The partner credentials are rotated.", "secrets", None),
        ("Clients connect over WebSocket.", "websockets", None),
        ("Use socket.io for the chat.", "websockets", None),
        ("Server-sent events stream the progress.", "websockets", None),
        ("Long-lived connections to the devices.", "websockets", None),
        ("Real-time updates on the board.", "websockets", None),
        ("Search with Elasticsearch.", "search", "elasticsearch"),
        ("OpenSearch indexes the catalogue.", "search", "opensearch"),
        ("Full-text search over the articles.", "search", None),
        ("Publish the orders to Kafka.", "streaming", "kafka"),
        ("Kinesis Data Streams ingest the clicks.", "streaming", "kinesis"),
        ("An event stream of order changes.", "streaming", None),
        ("Change data capture from the ledger.", "streaming", None),
    ],
)
def test_paraphrases_are_detected(text: str, component: str, flavor: str | None) -> None:
    detected = _detect("Story", text).get(component)
    assert detected is not None, f"{component} not found in {text!r}"
    assert detected.flavor == flavor


@pytest.mark.parametrize(
    "text",
    [
        "A queue of support tickets to triage.",
        "We queue up the feature requests each sprint.",
        "A statically typed Python code base.",
        "Improve cash flow reporting.",
        "The jobs page lists the open positions.",
        "The worker checks each parcel by hand.",
        "Nightly builds run in CI.",
        "Use a token bucket rate limiter.",
        "A static IP for the partner.",
        "Scheduled maintenance on Sunday.",
        "Type inference in the compiler.",
        "Show all results on a single page.",
        "Keep the search box on top.",
        "Bucket list of ideas for the offsite.",
        "Objects in the domain model are immutable.",
        "Browser caching of the logo via Cache-Control headers.",
        "Encrypt the reports with SSE-KMS.",
        "Pay the hourly rate of the contractors.",
        "Fraud model inference on CPU.",
    ],
)
def test_near_misses_are_not_detected(text: str) -> None:
    assert _found(_detect("Story", text)) == {}


def test_negated_words_do_not_count() -> None:
    detection = _detect("Campaign page", "A static site, no backend and no database. It does not need a job queue.")
    assert _found(detection) == {"static_site": None}
    assert detection.archetype == Archetype.STATIC_SITE
    assert not _detect("x", "A non-relational database.").has(Component.DATABASE)
    assert _detect("x", "No downtime, PostgreSQL stays up.").has(Component.DATABASE)  # the comma ends the clause


def test_longest_phrase_wins() -> None:
    secrets_only = _detect("x", "Keep the API keys out of the repository.")
    assert _found(secrets_only) == {"secrets": None} and secrets_only.service_evidence is None
    assert _found(_detect("x", "Commands go through Azure Service Bus.")) == {"queue": "servicebus"}
    assert _found(_detect("x", "Host it as an S3 static website.")) == {"static_site": None}


def test_someone_elses_api_is_not_a_service_of_ours() -> None:
    detection = _detect("Weekly digest", "Every Monday, send the digest through the SendGrid API.")
    assert detection.service_evidence is None and detection.archetype == Archetype.WORKERS
    chatbot = _detect("Support bot", "Embed the help articles into pgvector and call the OpenAI API for the answers.")
    assert _found(chatbot) == {"database": "postgresql"}
    assert chatbot.service_evidence is None and chatbot.roles == ["backend", "database", "ai", "qa"]


def test_a_phrase_does_not_cross_a_sentence() -> None:
    assert not _detect("x", "We need a job. Queue the rest for later.").has(Component.QUEUE)
    assert _detect("x", "We need a job-queue for this.").has(Component.QUEUE)


def test_the_first_product_named_is_the_flavor() -> None:
    detection = _detect("Orders database", "Orders move from MySQL to PostgreSQL.")
    database = detection.get(Component.DATABASE)
    assert database.flavor == "mysql"
    assert [e.source for e in database.evidence] == ["summary", "description"]
    assert database.reason.startswith('MySQL: "')


# -- archetype ---------------------------------------------------------------------------------------------------


def test_a_static_site_with_a_server_part_is_a_service() -> None:
    with_api = _detect("Campaign site", "A static site on a CDN with a contact form API.")
    assert with_api.archetype == Archetype.SERVICE and with_api.has(Component.STATIC_SITE)
    with_db = _detect("Campaign site", "A static site on a CDN; sign-ups are stored in PostgreSQL.")
    assert with_db.archetype == Archetype.SERVICE
    assert with_db.archetype_reason.startswith('Service, not a static site (relational database): "')
    with_workers = _detect("Campaign site", "A static site on a CDN; Celery workers send the sign-up e-mails.")
    assert with_workers.archetype == Archetype.SERVICE  # not workers only: the site would be lost
    cached = _detect("Docs", "A static site; pages are cached for an hour. Algolia full-text search.")
    assert cached.archetype == Archetype.STATIC_SITE and cached.has("cache") and cached.has("search")


def test_workers_with_an_api_or_websockets_are_a_service() -> None:
    assert _detect("Exports", "Celery workers build the export behind a REST API.").archetype == Archetype.SERVICE
    assert _detect("Live board", "Celery workers push real-time updates.").archetype == Archetype.SERVICE


@pytest.mark.parametrize(
    ("components", "archetype"),
    [
        ([], Archetype.SERVICE),
        ([Component.STATIC_SITE], Archetype.STATIC_SITE),
        ([Component.STATIC_SITE, Component.OBJECT_STORAGE, Component.SECRETS], Archetype.STATIC_SITE),
        ([Component.STATIC_SITE, Component.DATABASE], Archetype.SERVICE),
        ([Component.STATIC_SITE, Component.QUEUE], Archetype.SERVICE),
        ([Component.STATIC_SITE, Component.SCHEDULED_JOBS, Component.CACHE], Archetype.STATIC_SITE),
        ([Component.QUEUE], Archetype.WORKERS),
        ([Component.SCHEDULED_JOBS, Component.DATABASE], Archetype.WORKERS),
        ([Component.STREAMING], Archetype.WORKERS),
        ([Component.QUEUE, Component.WEBSOCKETS], Archetype.SERVICE),
        ([Component.GPU_INFERENCE, Component.STATIC_SITE, Component.QUEUE], Archetype.GPU_INFERENCE),
        (["static_site"], Archetype.STATIC_SITE),
    ],
)
def test_archetype_for_bare_components(components: list[Component], archetype: Archetype) -> None:
    """What the form's override uses: the remaining components, without quotes."""
    found, reason = archetype_for(components)
    assert found == archetype
    assert reason and "\n" not in reason and len(reason) <= REASON_CHARS


def test_archetype_for_with_the_service_words_keeps_a_service() -> None:
    detection = _detect("Exports API", "Celery workers build each export.")
    assert detection.archetype == Archetype.SERVICE and detection.service_evidence is not None
    assert archetype_for([Component.QUEUE], service=detection.service_evidence)[0] == Archetype.SERVICE
    assert archetype_for(detection.components)[0] == Archetype.WORKERS  # the user's override dropped the API


# -- evidence ----------------------------------------------------------------------------------------------------


def test_evidence_quotes_the_story_and_names_the_source() -> None:
    summary, description = CHECKOUT
    for detected in _detect(summary, description).components:
        for evidence in detected.evidence:
            assert evidence.source in ("summary", "description")
            text = summary if evidence.source == "summary" else description
            assert evidence.match and evidence.match in evidence.quote
            assert evidence.quote in " ".join(text.split())
            assert "\n" not in evidence.quote and len(evidence.quote) <= QUOTE_CHARS


def test_one_evidence_per_source() -> None:
    detected = _detect("Redis for sessions", "Redis keeps the sessions. Redis also keeps the carts.").get("cache")
    assert [e.source for e in detected.evidence] == ["summary", "description"]
    assert detected.evidence[1].quote == "Redis keeps the sessions"


def test_labels_and_jira_components_are_sources() -> None:
    detection = _detect("Billing", "", labels=["postgres", "backend"], jira_components=["Search Platform", "Kafka"])
    assert detection.get("database").evidence == [
        Evidence(source="label", quote="postgres", match="postgres", flavor="postgresql")
    ]
    assert detection.get("database").reason == 'PostgreSQL: label "postgres"'
    assert detection.get("streaming").evidence[0].source == "component"
    assert detection.get("streaming").reason == 'Kafka: component "Kafka"'
    assert detection.service_evidence.source == "label"
    assert not detection.has("search")  # "search" alone is too weak, in a label or in text
    assert _detect("Billing", "", jira_components=["search"]).has("search")  # a whole label that names it


def test_a_sibling_database_task_implies_a_database() -> None:
    siblings = {"database": [SiblingTask(key="KAN-7", summary="Checkout - Database", url="u")]}
    detected = _detect("Checkout", "Customers pay for their basket.", siblings=siblings).get("database")
    assert detected is not None and detected.flavor is None
    assert detected.evidence[0].source == "sibling KAN-7"
    assert detected.reason == 'Relational database: sibling KAN-7 "Checkout - Database"'


def test_a_siblings_summary_names_what_it_builds() -> None:
    siblings = {
        "database": [SiblingTask(key="KAN-7", summary="Orders schema in PostgreSQL - Database", url="u")],
        "backend": [SiblingTask(key="KAN-8", summary="Celery workers for receipts - Backend", url="u")],
    }
    detection = _detect("Checkout", "Customers pay for their basket.", siblings=siblings)
    assert _found(detection) == {"database": "postgresql", "queue": "celery"}
    assert detection.get("queue").evidence[0].source == "sibling KAN-8"
    assert detection.archetype == Archetype.SERVICE  # a backend task means a backend: not workers only
    assert detection.roles == ["backend", "database", "qa"]


def test_reasons_stay_within_slacks_limit() -> None:
    long = (
        "In the second phase the team that owns the platform will, after a long review with security, finally "
        "store every single order that customers place in a PostgreSQL database that is replicated across zones "
        "and backed up every night to a bucket in another region, as described in the runbook."
    )
    detection = _detect("Orders " * 40, long, labels=["x" * 300 + "-redis"], jira_components=["Kafka " * 80])
    assert detection.components
    for detected in detection.components:
        assert len(detected.reason) <= REASON_CHARS, detected.reason
        assert all(len(e.quote) <= QUOTE_CHARS for e in detected.evidence)
    database = detection.get("database").reason
    assert "PostgreSQL" in database and "…" in database
    for story in GOLDEN.values():
        detection = _detect(*story[0])
        assert all(len(d.reason) <= REASON_CHARS for d in detection.components)
        assert len(detection.archetype_reason) <= REASON_CHARS


# -- figures -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "value"),
    [
        ("p95 under 200 ms", "p95_latency_ms", 200),
        ("99th percentile latency of 300ms", "p99_latency_ms", 300),
        ("p99 < 1s", "p99_latency_ms", 1000),
        ("P95 latency should stay below 1.5 seconds", "p95_latency_ms", 1500),
        ("95th percentile under 250 milliseconds", "p95_latency_ms", 250),
        ("about 500 GB of data", "data_size_gb", 500),
        ("2 TB of images", "data_size_gb", 2000),
        ("keep logs for 90 days", "retention_days", 90),
        ("retention of 30 days", "retention_days", 30),
        ("orders are retained for 7 years", "retention_days", 2555),
        ("a 30-day log retention", "retention_days", 30),
        ("RTO of 1 hour", "rto_minutes", 60),
        ("RPO 5 minutes", "rpo_minutes", 5),
        ("recover within 4 hours", "rto_minutes", 240),
        ("recovery point objective of 15 min", "rpo_minutes", 15),
        ("RTO: 30s", "rto_minutes", 0.5),
        ("no more than 10 minutes of data loss", "rpo_minutes", 10),
        ("we can lose at most 2 minutes of events", "rpo_minutes", 2),
    ],
)
def test_figures_are_read_with_their_words(text: str, name: str, value: float) -> None:
    detection = _detect("Story", f"Intro line.\nThe target: {text}, as agreed.")
    figure = detection.figure(name)
    assert figure is not None, f"{name} not read from {text!r}"
    assert figure.value == pytest.approx(value)
    assert text in figure.quote and figure.source == "description"
    assert [f.name for f in detection.figures] == [name]


def test_all_figures_of_a_story_in_order() -> None:
    detection = _detect(
        "Reports p99 < 1s",
        "p95 under 200 ms and p99 under 900 ms. 2 TB of data, kept for 30 days. RTO of 1 hour, RPO 5 minutes.",
    )
    assert [(f.name, f.value, f.source) for f in detection.figures] == [
        ("p95_latency_ms", 200, "description"),
        ("p99_latency_ms", 1000, "summary"),  # the summary is read first
        ("data_size_gb", 2000, "description"),
        ("retention_days", 30, "description"),
        ("rto_minutes", 60, "description"),
        ("rpo_minutes", 5, "description"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Improve onboarding copy for new users.",
        "Nodes with 16 GB of RAM and 4 GB memory limits.",
        "Download at 10 GB/s.",
        "Users lose their session after 30 minutes.",
        "p95 latency matters most.",
        "Keep the service up 99.9% of the time at 300 rps.",
        "The RTO is not decided yet. Deploys take 5 minutes.",
    ],
)
def test_figures_are_absent_when_not_stated(text: str) -> None:
    assert _detect("Story", text).figures == []


def test_figures_are_read_from_the_prefix_only() -> None:
    assert _detect("x", "y" * SCAN_CHARS + " p95 under 200 ms").figures == []
    assert _detect("x", "p95 under 200 ms " + "y" * SCAN_CHARS).figure("p95_latency_ms").value == 200
    assert not _detect("x", "y " * SCAN_CHARS + "PostgreSQL").components


# -- roles -------------------------------------------------------------------------------------------------------


def test_roles_are_the_ones_the_story_touches() -> None:
    assert _detect(*PLAIN_API).roles == ["backend", "qa"]
    assert _detect(*GPU).roles == ["ai", "qa"]
    assert _detect(*STATIC).roles == ["frontend", "qa"]
    assert _detect(*CHECKOUT).roles == ["backend", "database", "qa"]
    assert _detect(*WORKERS).roles == ["backend", "qa"]
    assert _detect(*NO_SIGNALS).roles == ["qa"]
    assert _detect("Sales dashboard", "A dashboard UI over the REST API.").roles == ["backend", "frontend", "qa", "ux"]
    assert _detect("Churn", "Train an ML model on the events.").roles == ["ai", "qa"]
    assert _detect("Catalogue", "Full-text search over products.").roles == ["backend", "database", "qa"]


def test_sibling_roles_are_relevant() -> None:
    siblings = {"ux": [SiblingTask(key="KAN-9", summary="Copy review - UX", url="u")]}
    assert _detect(*NO_SIGNALS, siblings=siblings).roles == ["qa", "ux"]


# -- cost --------------------------------------------------------------------------------------------------------


def _repeat(words: str) -> str:
    return (words * (SIZE // len(words) + 1))[:SIZE]


SHAPES = HOSTILE | {
    "component words": _repeat(
        "PostgreSQL Redis cache Celery workers nightly S3 bucket GPU secrets WebSocket Elasticsearch Kafka CDN API "
    ),
    "figure keywords": _repeat("p95 retention RTO rpo keep 99th percentile lose at most recover within "),
    "numbers and units": _repeat("1 GB 2 ms 3 days 4-day 5 minutes "),
    "phrase prefixes": _repeat("static azure s3 cloud job message background real "),
    "negations": _repeat("no not without "),
    "short words": _repeat("a "),
    "one long word": "x" * SIZE,
    "newlines": "\n" * SIZE,
    "sentence breaks": _repeat(". "),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_detect_reads_200_kb_of_hostile_text_in_linear_time(shape: str) -> None:
    text = SHAPES[shape]
    story = _story(text[:300], text, labels=[text[:300]] * 20)
    siblings = {"database": [SiblingTask(key="KAN-7", summary=text[:300], url="u")] * 20}

    def run() -> Detection:
        return detect(story, siblings=siblings, jira_components=[text[:300]] * 20, rules=RULES)

    best = best_cpu_seconds(run)
    assert best < LINEAR_BOUND_SECONDS, f"detect took {best * 1000:.0f} ms on 200 KB of {shape!r}"


def test_200_kb_of_component_words_yields_each_component_once() -> None:
    text = SHAPES["component words"]
    assert best_cpu_seconds(lambda: detect(_story("Everything", text), rules=RULES)) < LINEAR_BOUND_SECONDS
    detection = detect(_story("Everything", text), rules=RULES)
    assert [d.component for d in detection.components] == list(Component)
    assert all(len(d.evidence) == 1 for d in detection.components)


# -- the rules file ----------------------------------------------------------------------------------------------


def _rules_dir(tmp_path: Path, toml: str, *, keep_default: bool = True) -> Path:
    base = (TEMPLATES / RULES_FILE).read_text() if keep_default else ""
    (tmp_path / RULES_FILE).write_text(base + "\n" + toml)
    return tmp_path


def test_every_component_has_rules() -> None:
    targets = {t.name for phrases in RULES.phrases.values() for _, t in phrases if t.kind == "component"}
    assert targets == {c.value for c in Component}


def test_an_operator_added_phrase_is_detected(tmp_path: Path) -> None:
    rules = load_rules(
        _rules_dir(
            tmp_path,
            '[[rules]]\ncomponent = "database"\nflavor = "cockroachdb"\nlabel = "CockroachDB"\n'
            'phrases = ["CockroachDB", "Cockroach cluster"]\nlabels = ["crdb"]\n',
        )
    )
    detection = detect(_story("Ledger", "The ledger moves to a Cockroach cluster."), rules=rules)
    assert _found(detection) == {"database": "cockroachdb"}
    assert detection.get("database").reason == 'CockroachDB: "The ledger moves to a Cockroach cluster"'
    assert detect(_story("Ledger", "", labels=["CRDB"]), rules=rules).has("database")
    assert load_rules(tmp_path) is rules  # read once per path


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[rules]]\ncomponent = "databse"\nphrases = ["x"]\n', "unknown component 'databse'"),
        ('[[rules]]\ncomponent = "cache"\nphrases = []\n', "no phrases"),
        ('[[rules]]\ncomponent = "cache"\nphrases = ["  "]\n', "phrase '  ' has no words"),
        ('[[rules]]\ncomponent = "cache"\nphrases = ["--"]\n', "phrase '--' has no words"),
        ('[[rules]]\ncomponent = "cache"\nphrases = ["a b c d e f g"]\n', "more than 6 words"),
        ('[[rules]]\ncomponent = "cache"\nphrases = ["redis"]\n', "phrase 'redis' is also in rules["),
        ('[[rules]]\ncomponent = "cache"\nphrases = ["x"]\nroles = ["devops"]\n', "unknown role 'devops'"),
        ('[[rules]]\ncomponent = "cache"\nphrase = ["x"]\n', "phrase"),
        ('[[signals]]\nsignal = "mobile"\nphrases = ["x"]\n', "unknown signal 'mobile'"),
        ("[[rules]\n", "not valid TOML"),
    ],
)
def test_a_broken_rules_file_names_the_file_and_the_rule(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        load_rules(_rules_dir(tmp_path, toml))
    assert message in str(error.value)
    assert str(tmp_path / RULES_FILE) in str(error.value)
    if "unknown component" in message:  # the rule after the default file's
        assert f"rules[{len(tomllib.loads((TEMPLATES / RULES_FILE).read_text())['rules'])}] (databse)" in str(
            error.value
        )


def test_a_missing_rules_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=RULES_FILE):
        load_rules(tmp_path)


# -- the models --------------------------------------------------------------------------------------------------


def test_labels_and_round_trip() -> None:
    assert [c.label for c in Component] == [
        "Relational database",
        "Cache",
        "Queue and workers",
        "Scheduled jobs",
        "Object storage",
        "Static site on a CDN",
        "GPU inference",
        "Secrets",
        "Long-lived connections",
        "Search",
        "Streaming",
    ]
    assert all(a.label for a in Archetype)
    detection = _detect(*CHECKOUT)
    assert Detection.model_validate_json(detection.model_dump_json()) == detection  # drafts store it as JSON
    assert detection.has(Component.CACHE) and detection.has("cache") and not detection.has(Component.GPU_INFERENCE)
    with pytest.raises(ValueError):
        Detected(component=Component.CACHE, evidence=[])
