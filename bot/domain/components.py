"""Story-aware infrastructure: which components a story needs, its shape (archetype), its figures, its roles.

"Analyze story requirements from a DevOps perspective": the story's summary, description (acceptance criteria live
there), labels, Jira components and sibling role tasks are read for the infrastructure they imply (a database, a
cache, workers, a CronJob, a GPU, ...), each detection carrying its evidence, the story's own words, quoted.

The vocabulary is data, not code: ``templates/components.toml`` (see the comments there), which operators extend like
the templates. Its phrases are plain words, never regexes, so matching stays linear whatever an operator adds.

Cost, on any text: each field is read up to estimate.SCAN_CHARS characters; it is tokenised once by one
character-class regex, and phrases are matched as token sequences through a dict keyed by their first token, longest
first (at most MAX_PHRASE_TOKENS tokens): O(tokens x phrases sharing a first token), no backtracking. Figures use
linear regexes in the style of estimate.py (possessive quantifiers, bounded gaps, numbers that start only at a first
digit). Pure: no Slack, Jira or Redis.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain.estimate import SCAN_CHARS
from bot.domain.models import WORKER_COMPONENTS, Archetype, Component, SiblingTask, Story  # noqa: F401 - re-exported
from bot.domain.related import ROLE_LABELS

RULES_FILE = "components.toml"
#: Slack's limit on an option's description, where the modal shows a detection's reason.
REASON_CHARS = 75
#: An evidence quote: the matched words and a little of their sentence, one line.
QUOTE_CHARS = 80
MAX_PHRASE_TOKENS = 6
#: How many labels, Jira components and sibling tasks are read (a story has a handful; these bound a hostile one).
MAX_LABELS = 100
MAX_SIBLINGS = 100
LABEL_CHARS = 255
#: A match right after one of these (up to NEGATION_WINDOW tokens back, same clause) does not count: "no backend",
#: "without a cache", "does not need a queue", "non-relational database". ("t" is what "n't" leaves.)
NEGATORS = frozenset({"no", "not", "without", "never", "nor", "none", "neither", "cannot", "non", "t"})
NEGATION_WINDOW = 3
#: The relevant cross-team roles, in this order (bot.domain.related's roles).
ROLE_ORDER: tuple[str, ...] = tuple(ROLE_LABELS)
FIGURE_NAMES = ("p95_latency_ms", "p99_latency_ms", "data_size_gb", "retention_days", "rto_minutes", "rpo_minutes")
SIGNALS = ("service", "ui", "ml")


class Evidence(BaseModel):
    """Where a detection came from: the source and the story's own words."""

    source: str  # "summary", "description", "label", "component" or "sibling KAN-7"
    quote: str  # the matched words with a little context, one line, at most QUOTE_CHARS
    match: str = ""  # the matched words as written
    flavor: str | None = None  # the flavor the matched phrase names, if any


class Detected(BaseModel):
    component: Component
    flavor: str | None = None
    flavor_label: str | None = None  # how the rules file names the flavor ("PostgreSQL")
    evidence: list[Evidence] = Field(min_length=1)

    @property
    def name(self) -> str:
        return self.flavor_label or self.component.label

    @property
    def reason(self) -> str:
        """One line for the modal, within REASON_CHARS: `PostgreSQL: "stores orders in a PostgreSQL 16 database"`."""
        shown = next((e for e in self.evidence if self.flavor and e.flavor == self.flavor), self.evidence[0])
        return cite(self.name, shown)


class Figure(BaseModel):
    name: str  # one of FIGURE_NAMES
    value: float
    quote: str  # the words it was read from
    source: str = "description"


class Detection(BaseModel):
    components: list[Detected] = Field(default_factory=list)  # in Component order, each once
    archetype: Archetype = Archetype.SERVICE
    archetype_reason: str = ""
    figures: list[Figure] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)  # in ROLE_ORDER
    #: The first words saying the story is an HTTP API/backend of our own (for archetype_for on an override).
    service_evidence: Evidence | None = None

    def has(self, component: Component | str) -> bool:
        return any(d.component == component for d in self.components)

    def get(self, component: Component | str) -> Detected | None:
        return next((d for d in self.components if d.component == component), None)

    def figure(self, name: str) -> Figure | None:
        return next((f for f in self.figures if f.name == name), None)


# -- the rules file --------------------------------------------------------------------------------------------------


class _RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    component: str
    flavor: str | None = None
    label: str | None = None
    phrases: list[str]
    labels: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)


class _SignalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal: str
    phrases: list[str]
    labels: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)


class _IgnoreSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phrases: list[str] = Field(default_factory=list)


class _FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[_RuleSpec] = Field(min_length=1)
    signals: list[_SignalSpec] = Field(default_factory=list)
    ignore: _IgnoreSpec = Field(default_factory=_IgnoreSpec)


@dataclass(frozen=True)
class _Target:
    """What a phrase, label or role points to."""

    kind: Literal["component", "signal", "ignore"]
    name: str  # the component's value, the signal's name, or "ignore"
    flavor: str | None = None
    flavor_label: str | None = None
    where: str = ""  # "rules[3] (database/postgresql)", for error messages


@dataclass(frozen=True)
class ComponentRules:
    """The compiled matcher of one rules file."""

    path: Path
    #: first token → ((tokens, target), ...), longest first (tokens as a list: compared with a slice of the text's)
    phrases: Mapping[str, tuple[tuple[list[str], _Target], ...]] = field(default_factory=dict)
    labels: Mapping[str, tuple[_Target, ...]] = field(default_factory=dict)
    roles: Mapping[str, tuple[_Target, ...]] = field(default_factory=dict)


def load_rules(templates_dir: Path) -> ComponentRules:
    """`<templates_dir>/components.toml`, validated and compiled; read once per path (restart to reload).

    ValueError names the file and the rule on a mistake (an unknown component, a phrase with no words, ...)."""
    return _load_rules(Path(templates_dir).resolve() / RULES_FILE)


@functools.lru_cache(maxsize=16)
def _load_rules(path: Path) -> ComponentRules:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"component rules not found: {path} (copy templates/{RULES_FILE})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    return parse_rules(data, path=path)


def parse_rules(data: Mapping[str, object], *, path: Path) -> ComponentRules:
    """Validate and compile a rules file already parsed from TOML."""
    try:
        spec = _FileSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise ValueError(f"{path}: {problems}") from None
    components = {c.value for c in Component}
    first: dict[str, list[tuple[tuple[str, ...], _Target]]] = {}
    owner: dict[tuple[str, ...], _Target] = {}
    labels: dict[str, list[_Target]] = {}
    roles: dict[str, list[_Target]] = {}

    def add(target: _Target, phrases: list[str], label_names: list[str], role_names: list[str]) -> None:
        if not phrases:
            raise ValueError(f"{path}: {target.where}: no phrases")
        for phrase in phrases:
            tokens = _phrase_tokens(phrase)
            if tokens is None or not tokens:
                raise ValueError(f"{path}: {target.where}: phrase {phrase!r} has no words (or ends a sentence)")
            if len(tokens) > MAX_PHRASE_TOKENS:
                raise ValueError(f"{path}: {target.where}: phrase {phrase!r} has more than {MAX_PHRASE_TOKENS} words")
            previous = owner.get(tokens)
            if previous == target:
                continue
            if previous is not None:
                raise ValueError(f"{path}: {target.where}: phrase {phrase!r} is also in {previous.where}")
            owner[tokens] = target
            first.setdefault(tokens[0], []).append((tokens, target))
        for name in label_names:
            key = _label_key(name)
            if not key:
                raise ValueError(f"{path}: {target.where}: empty label")
            labels.setdefault(key, []).append(target)
        for role in role_names:
            if role not in ROLE_ORDER:
                raise ValueError(
                    f"{path}: {target.where}: unknown role {role!r} (expected one of {', '.join(ROLE_ORDER)})"
                )
            roles.setdefault(role, []).append(target)

    for i, rule in enumerate(spec.rules):
        where = f"rules[{i}] ({rule.component}{'/' + rule.flavor if rule.flavor else ''})"
        if rule.component not in components:
            raise ValueError(
                f"{path}: {where}: unknown component {rule.component!r} "
                f"(expected one of {', '.join(c.value for c in Component)})"
            )
        if rule.flavor is not None and not rule.flavor.strip():
            raise ValueError(f"{path}: {where}: empty flavor")
        target = _Target("component", rule.component, rule.flavor, rule.label or None, where)
        add(target, rule.phrases, rule.labels, rule.roles)
    for i, signal in enumerate(spec.signals):
        where = f"signals[{i}] ({signal.signal})"
        if signal.signal not in SIGNALS:
            raise ValueError(
                f"{path}: {where}: unknown signal {signal.signal!r} (expected one of {', '.join(SIGNALS)})"
            )
        add(_Target("signal", signal.signal, where=where), signal.phrases, signal.labels, signal.roles)
    if spec.ignore.phrases:
        add(_Target("ignore", "ignore", where="ignore"), spec.ignore.phrases, [], [])
    return ComponentRules(
        path=path,
        phrases={
            t: tuple((list(p), target) for p, target in sorted(ps, key=lambda p: -len(p[0]))) for t, ps in first.items()
        },
        labels={k: tuple(v) for k, v in labels.items()},
        roles={k: tuple(v) for k, v in roles.items()},
    )


# -- tokens and quotes -----------------------------------------------------------------------------------------------

# A word (letters and digits of any script), or a clause break: sentence punctuation or a comma followed by
# whitespace, a newline, a table cell's "|". Phrases never match across a break. One character class per branch, no
# nesting: linear.
_TOKEN = re.compile(r"([^\W_]+)|[.!?;,](?=\s)|[\n|]")
_BREAK = ""


def _norm(word: str) -> str:
    """Case folded; a plural's "s" dropped on words of 4+ letters ("queues" = "queue"; "redis" is "redi" both in the
    rules and the text, so it still matches)."""
    word = word.lower()
    if len(word) > 3 and word[-1] == "s" and word[-2] != "s":
        return word[:-1]
    return word


def _tokens(text: str) -> tuple[list[str], list[re.Match[str]]]:
    """The words of text's first SCAN_CHARS characters, normalised (_BREAK for a clause break), and their matches."""
    matches = list(_TOKEN.finditer(text, 0, SCAN_CHARS))
    return [_norm(word) if word else _BREAK for word in (m.group(1) for m in matches)], matches


def _phrase_tokens(phrase: str) -> tuple[str, ...] | None:
    """The phrase as tokens; None if it holds a clause break (it could never match)."""
    tokens = tuple(_tokens(phrase)[0])
    return None if _BREAK in tokens else tokens


def _label_key(label: str) -> str:
    return "-".join(label.lower().replace("_", " ").split())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def quote_around(text: str, start: int, end: int, *, width: int = QUOTE_CHARS) -> str:
    """The words text[start:end] with a little of their sentence (one line, whole words, at most `width`)."""
    lo, hi = max(0, start - width), min(len(text), end + width)
    if (cut := text.rfind("\n", lo, start)) >= 0:
        lo = cut + 1
    if (cut := text.rfind(". ", lo, start)) >= 0:
        lo = cut + 2
    if (cut := text.find("\n", end, hi)) >= 0:
        hi = cut
    if (cut := text.find(". ", end, hi)) >= 0:
        hi = cut
    if end - start >= width:
        matched = _one_line(text[start:end])
        return matched if len(matched) <= width else matched[: width - 1] + "…"
    room = width - (end - start)
    left = min(start - lo, room // 2)
    right = min(hi - end, room - left)
    left = min(start - lo, room - right)
    a, b = start - left, end + right
    if 0 < a < start and text[a - 1].isalnum() and text[a].isalnum():  # cut inside a word: drop its part
        space = text.find(" ", a, start)
        a = space + 1 if space >= 0 else start
    if end < b < len(text) and text[b - 1].isalnum() and text[b].isalnum():
        space = text.rfind(" ", end, b)
        b = space if space >= 0 else end
    return _one_line(text[a:b]).strip(" *#|,;:-").rstrip(".")


def _fit(quote: str, match: str, budget: int) -> str:
    """The quote within `budget` characters, keeping the matched words; "…" where it is cut."""
    if len(quote) <= budget:
        return quote
    budget = max(budget, 2)
    at = quote.lower().find(match.lower()) if match else -1
    if at < 0 or len(match) >= budget - 2:
        return quote[: budget - 1].rstrip() + "…"
    room = budget - 2 - len(match)
    left = min(at, room // 2)
    right = min(len(quote) - at - len(match), room - left)
    left = min(at, room - right)
    a, b = at - left, at + len(match) + right
    if a > 0 and (space := quote.find(" ", a, at)) >= 0:
        a = space + 1
    if b < len(quote) and (space := quote.rfind(" ", at + len(match), b)) >= 0:
        b = space
    return ("…" if a > 0 else "") + quote[a:b].strip() + ("…" if b < len(quote) else "")


def cite(name: str, evidence: Evidence, *, limit: int = REASON_CHARS) -> str:
    """`Name: "quote"` (story text) or `Name: label "quote"` / `Name: sibling KAN-7 "quote"`, within `limit`."""
    where = "" if evidence.source in ("summary", "description") else f"{evidence.source} "
    head = f"{name}: {where}"
    line = f'{head}"{_fit(evidence.quote, evidence.match, limit - len(head) - 2)}"'
    return line if len(line) <= limit else line[: limit - 1] + "…"


# -- detection -------------------------------------------------------------------------------------------------------


@dataclass
class _Hit:
    source: str
    text: str
    start: int
    end: int
    flavor: str | None = None
    flavor_label: str | None = None
    whole: bool = False  # quote the whole text (a label, a sibling's summary)
    order: int = 0  # in reading order, set by _Found.add

    @classmethod
    def of(cls, target: _Target, source: str, text: str, start: int, end: int, whole: bool) -> _Hit:
        return cls(source, text, start, end, target.flavor, target.flavor_label, whole)

    def evidence(self) -> Evidence:
        if self.whole:
            quote = _one_line(self.text)
            quote = quote if len(quote) <= QUOTE_CHARS else _fit(quote, self.matched(), QUOTE_CHARS)
        else:
            quote = quote_around(self.text, self.start, self.end)
        return Evidence(source=self.source, quote=quote, match=self.matched(), flavor=self.flavor)

    def matched(self) -> str:
        return _one_line(self.text[self.start : self.end])


@dataclass
class _Found:
    """What one story yields, in reading order: summary, description, labels, components, siblings."""

    components: dict[str, dict[str, _Hit]] = field(default_factory=dict)  # component → source → hit
    signals: dict[str, _Hit] = field(default_factory=dict)
    count: int = 0

    def add(self, target: _Target, hit: _Hit) -> None:
        hit.order = self.count
        self.count += 1
        if target.kind == "signal":
            self.signals.setdefault(target.name, hit)
        elif target.kind == "component":
            by_source = self.components.setdefault(target.name, {})
            kept = by_source.get(hit.source)
            if kept is None or (kept.flavor is None and hit.flavor is not None):  # the first, or the first specific
                by_source[hit.source] = hit


def _scan(
    rules: ComponentRules, text: str, source: str, found: _Found, *, signals: bool = True, whole: bool = False
) -> None:
    words, matches = _tokens(text)
    n, i = len(words), 0
    phrases = rules.phrases
    while i < n:
        candidates = phrases.get(words[i])
        if not candidates:
            i += 1
            continue
        for phrase, target in candidates:  # longest first
            size = len(phrase)
            if size == 1 or words[i : i + size] == phrase:
                if target.kind != "ignore" and (signals or target.kind == "component") and not _negated(words, i):
                    found.add(
                        target, _Hit.of(target, source, text, matches[i].start(), matches[i + size - 1].end(), whole)
                    )
                i += size
                break
        else:
            i += 1


def _negated(words: list[str], i: int) -> bool:
    for j in range(i - 1, max(-1, i - 1 - NEGATION_WINDOW), -1):
        word = words[j]
        if word == _BREAK:
            return False
        if word in NEGATORS:
            return True
    return False


def _scan_label(rules: ComponentRules, label: str, source: str, found: _Found) -> None:
    label = label[:LABEL_CHARS]
    for target in rules.labels.get(_label_key(label), ()):
        found.add(target, _Hit.of(target, source, label, 0, len(label), True))
    _scan(rules, label, source, found, whole=True)


def detect(
    story: Story,
    *,
    siblings: Mapping[str, list[SiblingTask]] | None = None,
    jira_components: Sequence[str] = (),
    rules: ComponentRules,
) -> Detection:
    """The infrastructure the story implies, its archetype, its figures and the relevant roles. Pure."""
    found = _Found()
    _scan(rules, story.summary, "summary", found)
    _scan(rules, story.description, "description", found)
    for label in story.labels[:MAX_LABELS]:
        _scan_label(rules, label, "label", found)
    for name in list(jira_components)[:MAX_LABELS]:
        _scan_label(rules, name, "component", found)
    sibling_roles: set[str] = set()
    tasks = [(role, task) for role, listed in (siblings or {}).items() for task in listed][:MAX_SIBLINGS]
    for role, task in tasks:
        sibling_roles.add(role)
        source, summary = f"sibling {task.key}", task.summary[:LABEL_CHARS]
        _scan(rules, summary, source, found, signals=False, whole=True)  # what it builds, not how it is shaped
        for target in rules.roles.get(role, ()):
            found.add(target, _Hit.of(target, source, summary, 0, len(summary), True))

    detected = [_detected(Component(c), found.components[c]) for c in Component if c in found.components]
    service = found.signals["service"].evidence() if "service" in found.signals else None
    archetype, reason = archetype_for(detected, service=service)
    roles = _roles(detected, set(found.signals), sibling_roles, archetype)
    figures = figures_from_text(story.summary, source="summary")
    have = {f.name for f in figures}
    figures += [f for f in figures_from_text(story.description, source="description") if f.name not in have]
    figures.sort(key=lambda f: FIGURE_NAMES.index(f.name))
    return Detection(
        components=detected,
        archetype=archetype,
        archetype_reason=reason,
        figures=figures,
        roles=roles,
        service_evidence=service,
    )


def _detected(component: Component, by_source: dict[str, _Hit]) -> Detected:
    hits = sorted(by_source.values(), key=lambda h: h.order)
    flavored = next((h for h in hits if h.flavor), None)
    return Detected(
        component=component,
        flavor=flavored.flavor if flavored else None,
        flavor_label=flavored.flavor_label if flavored else None,
        evidence=[h.evidence() for h in hits],
    )


#: Components a static site cannot do without a server of its own: with any of them the archetype is a service. (A
#: cache or a search alone does not count: a static site's "cache" is its CDN's, and hosted search is called from the
#: browser.)
_SERVER_COMPONENTS = (Component.DATABASE, Component.QUEUE, Component.WEBSOCKETS, Component.STREAMING)
_BACKEND_COMPONENTS = (
    Component.DATABASE,
    Component.CACHE,
    Component.QUEUE,
    Component.SCHEDULED_JOBS,
    Component.WEBSOCKETS,
    Component.SEARCH,
    Component.STREAMING,
)


def archetype_for(
    components: Iterable[Component | Detected], *, service: Evidence | None = None
) -> tuple[Archetype, str]:
    """The base the story's shape asks for, and why in one line (within REASON_CHARS).

    - GPU inference if a GPU is needed;
    - a static site (bucket + CDN, no cluster) if there is one and nothing needs a server: no API/backend words
      (`service`, Detection.service_evidence), no database, queue, websockets or streaming;
    - workers only if there are queues, scheduled jobs or streams, and no API/backend words, websockets or static site;
    - else a service on Kubernetes.

    Components may be bare (the form's override): the reason then has no quote."""
    found: dict[Component, Detected | None] = {}
    for item in components:
        if isinstance(item, Detected):
            found[item.component] = item
        else:
            found.setdefault(Component(item), None)

    def why(head: str, component: Component) -> str:
        detected = found[component]
        return cite(head, detected.evidence[0]) if detected else head

    static = Component.STATIC_SITE in found
    server = next((c for c in _SERVER_COMPONENTS if c in found), None)
    worker = next((c for c in WORKER_COMPONENTS if c in found), None)
    if Component.GPU_INFERENCE in found:
        return Archetype.GPU_INFERENCE, why("GPU inference", Component.GPU_INFERENCE)
    if static and service is None and server is None:
        return Archetype.STATIC_SITE, why("Static site, no API or backend", Component.STATIC_SITE)
    if worker is not None and service is None and Component.WEBSOCKETS not in found and not static:
        return Archetype.WORKERS, why("Workers, no API", worker)
    if service is not None:
        return Archetype.SERVICE, cite("HTTP service", service)
    if static and server is not None:
        return Archetype.SERVICE, why(f"Service, not a static site ({server.label.lower()})", server)
    if Component.WEBSOCKETS in found:
        return Archetype.SERVICE, why("Service for long-lived connections", Component.WEBSOCKETS)
    return Archetype.SERVICE, "Service on Kubernetes (the default: no static-site, worker or GPU signals)"


def _roles(detected: list[Detected], signals: set[str], sibling_roles: set[str], archetype: Archetype) -> list[str]:
    have = {d.component for d in detected}
    roles = {"qa"} | (sibling_roles & set(ROLE_ORDER))
    if "service" in signals or have & set(_BACKEND_COMPONENTS) or archetype == Archetype.WORKERS:
        roles.add("backend")
    if Component.STATIC_SITE in have or "ui" in signals:
        roles.add("frontend")
    if have & {Component.DATABASE, Component.CACHE, Component.SEARCH}:
        roles.add("database")
    if Component.GPU_INFERENCE in have or "ml" in signals:
        roles.add("ai")
    if "ui" in signals:
        roles.add("ux")
    return [role for role in ROLE_ORDER if role in roles]


# -- figures ---------------------------------------------------------------------------------------------------------

# Linear on any text, like estimate.py: numbers start only at a first digit (not after a digit, comma or dot) or
# right after a bounded run of non-digits following a keyword; possessive quantifiers never give back.
_NUM = r"(\d[\d,.]*+)"
_LEAD = r"(?<![\d,.])"
_GAP = r"[^\d\n.!?;]{0,40}+"  # what may sit between a keyword and its number: a few words of the same sentence
_TIME = r"(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)\b"
_LATENCY = re.compile(
    rf"\b(?:p(95|99)|(95|99)(?:th|%)\s*+percentile)\b{_GAP}{_NUM}\s*+(ms|msecs?|milliseconds?|seconds?|secs?|s)\b",
    re.IGNORECASE,
)
_SIZE = re.compile(
    rf"{_LEAD}{_NUM}\s*+(gb|gib|gigabytes?|tb|tib|terabytes?|pb|pib|petabytes?)\b(?!/)"
    r"(?!\s*+(?:of\s++)?(?:ram|memory|vram|heap)\b)",
    re.IGNORECASE,
)
_RETENTION_UNIT = r"(days?|weeks?|months?|years?)\b"
_RETENTION = re.compile(
    r"\b(?:retention|retain(?:s|ed)?|keeps?|kept|stor(?:e[sd]?|ing)|archive[sd]?"
    r"|(?:purge[sd]?|delete[sd]?|expire[sd]?)\s++after)\b"
    rf"{_GAP}{_NUM}\s*+-?\s*+{_RETENTION_UNIT}",
    re.IGNORECASE,
)
_RETENTION_AFTER = re.compile(
    rf"{_LEAD}{_NUM}\s*+-?\s*+{_RETENTION_UNIT}\s*+(?:of\s++)?(?:[^\W\d_]++\s++)?retention\b", re.IGNORECASE
)
_RTO = re.compile(
    r"\b(?:rto|recovery\s++time(?:\s++objective)?|recover(?:ed|y)?\s++within|restored?\s++within"
    rf"|back\s++online\s++within|fail\s*+over\s++within)\b{_GAP}{_NUM}\s*+{_TIME}",
    re.IGNORECASE,
)
_RPO = re.compile(
    r"\b(?:rpo|recovery\s++point(?:\s++objective)?"
    r"|los(?:e|ing)\s++(?:at\s++most|no\s++more\s++than|up\s++to|less\s++than|more\s++than))\b"
    rf"{_GAP}{_NUM}\s*+{_TIME}",
    re.IGNORECASE,
)
_RPO_LOSS = re.compile(rf"{_LEAD}{_NUM}\s*+{_TIME}\s*+(?:of\s++)?data\s++loss\b", re.IGNORECASE)

_TO_MS = {"ms": 1, "msec": 1, "millisecond": 1, "s": 1000, "sec": 1000, "second": 1000}
_TO_GB = {"gb": 1, "gib": 1.073741824, "gigabyte": 1, "tb": 1000, "tib": 1099.511627776, "terabyte": 1000}
_TO_GB |= {"pb": 1_000_000, "pib": 1_125_899.906842624, "petabyte": 1_000_000}
_TO_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_TO_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "second": 1 / 60, "m": 1, "min": 1, "minute": 1}
_TO_MINUTES |= {"h": 60, "hr": 60, "hour": 60, "d": 1440, "day": 1440}


def _unit(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 2 and word.endswith("s") else word


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def figures_from_text(text: str, *, source: str = "description") -> list[Figure]:
    """Latency targets (p95/p99, ms), data size (GB), retention (days), RTO/RPO (minutes) the text states, each with
    the words it was read from. Read in the first SCAN_CHARS characters; the first statement of each wins."""
    figures: list[Figure] = []

    def add(name: str, match: re.Match[str] | None, number: str, factor: float | None) -> None:
        if match is None or factor is None or any(f.name == name for f in figures):
            return
        value = _number(number)
        if value is not None:
            quote = quote_around(text, match.start(), match.end())
            figures.append(Figure(name=name, value=round(value * factor, 3), quote=quote, source=source))

    for m in _LATENCY.finditer(text, 0, SCAN_CHARS):
        percentile = m.group(1) or m.group(2)
        add(f"p{percentile}_latency_ms", m, m.group(3), _TO_MS.get(_unit(m.group(4))))
        if len(figures) == 2:
            break
    m = _SIZE.search(text, 0, SCAN_CHARS)
    add("data_size_gb", m, m.group(1) if m else "", _TO_GB.get(_unit(m.group(2))) if m else None)
    for pattern in (_RETENTION, _RETENTION_AFTER):
        m = pattern.search(text, 0, SCAN_CHARS)
        add("retention_days", m, m.group(1) if m else "", _TO_DAYS.get(_unit(m.group(2))) if m else None)
    m = _RTO.search(text, 0, SCAN_CHARS)
    add("rto_minutes", m, m.group(1) if m else "", _TO_MINUTES.get(_unit(m.group(2))) if m else None)
    for pattern in (_RPO, _RPO_LOSS):
        m = pattern.search(text, 0, SCAN_CHARS)
        add("rpo_minutes", m, m.group(1) if m else "", _TO_MINUTES.get(_unit(m.group(2))) if m else None)
    return figures
