"""Where in-flight drafts live: Redis (shared by every instance) or in-process (one instance only)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import redis
from redis.client import Pipeline

from bot.domain.draft import Draft, NotInState
from bot.errors import DraftUnreadable, StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)


def _unavailable(exc: redis.RedisError) -> StoreUnavailable:
    """What the user is told when Redis fails a command; what failed goes to the log (an address, never a
    password: redis-py's messages name host and port)."""
    log.warning("the draft store's Redis failed a command: %s: %s", type(exc).__name__, exc)
    return StoreUnavailable()


@dataclass(frozen=True)
class Applied(Generic[T]):
    """A transition that took effect: the draft as now stored, and what the transition returned."""

    draft: Draft
    result: T


def _run(draft: Draft, step: Callable[[Draft], T]) -> Applied[T] | None:
    """Apply a transition to a copy just read; None when the draft is not in a state the transition starts from."""
    try:
        result = step(draft)
    except NotInState:
        return None
    draft.updated_at = time.time()
    return Applied(draft, result)


class DraftStore(Protocol):
    def save(self, draft: Draft) -> None: ...

    def get(self, draft_id: str) -> Draft | None: ...

    def delete(self, draft_id: str) -> None: ...

    def apply(self, draft_id: str, step: Callable[[Draft], T]) -> Applied[T] | None:
        """Atomically apply one transition of the draft (e.g. `lambda d: d.cancel()`, see bot/domain/draft.py).
        None when the draft is gone or not in a state the transition may start from; then nothing changed."""
        ...

    def claim_story(self, draft: Draft) -> Draft | None:
        """Make `draft` its story's one in-flight draft, saving the draft in the same atomic write, unless another
        draft still holds the story: then return that one, and save nothing. The claim and the draft it names exist
        from the same moment, so a second requester always finds the first one's draft behind the claim."""
        ...

    def story_holder(self, story_key: str) -> str | None:
        """The id of the draft the story's claim names (None when free)."""
        ...

    def release_story(self, story_key: str, draft_id: str) -> None:
        """Let go of the story if `draft_id` still holds it."""
        ...

    def claim_once(self, token: str, owner: str, *, ttl_seconds: int = 600) -> bool:
        """True if `owner` holds `token` (it is the first to ask within the TTL, or asked before): one delivery of
        a Slack request owns its trigger_id, so a copy Slack re-sends is dropped, while the same delivery handed
        out again by the job queue still runs. Also the sweeper's lease: its holder asks again to keep it."""
        ...

    def unsettled(self, *, limit: int = 100) -> list[str]:
        """Ids of drafts whose Approve outcome is still to be found out (`Draft.unsettled`), oldest first."""
        ...

    def forget_unsettled(self, draft_id: str) -> None:
        """Drop an id from that index (its draft is gone)."""
        ...

    def ping(self) -> bool: ...


class MemoryDraftStore:
    """In-process store: fine for one instance and for tests; drafts vanish with the process."""

    def __init__(self, *, ttl_seconds: int) -> None:
        self._ttl = ttl_seconds
        self._items: dict[str, tuple[float, str]] = {}
        self._stories: dict[str, str] = {}
        self._seen: dict[str, tuple[float, str]] = {}
        self._unsettled: dict[str, float] = {}
        self._lock = threading.Lock()

    def save(self, draft: Draft) -> None:
        draft.updated_at = time.time()
        with self._lock:
            self._write_locked(draft)

    def _write_locked(self, draft: Draft) -> None:
        self._items[draft.id] = (time.monotonic() + self._ttl, draft.model_dump_json())
        if draft.unsettled:
            self._unsettled[draft.id] = draft.updated_at
        else:
            self._unsettled.pop(draft.id, None)

    def get(self, draft_id: str) -> Draft | None:
        with self._lock:
            return self._get_locked(draft_id)

    def _get_locked(self, draft_id: str) -> Draft | None:
        item = self._items.get(draft_id)
        if item is None:
            return None
        expires, raw = item
        if expires < time.monotonic():
            del self._items[draft_id]
            return None
        return Draft.model_validate_json(raw)

    def delete(self, draft_id: str) -> None:
        with self._lock:
            self._items.pop(draft_id, None)

    def apply(self, draft_id: str, step: Callable[[Draft], T]) -> Applied[T] | None:
        with self._lock:
            draft = self._get_locked(draft_id)
            applied = _run(draft, step) if draft is not None else None
            if applied is not None:
                self._write_locked(applied.draft)
            return applied

    def claim_story(self, draft: Draft) -> Draft | None:
        with self._lock:
            holder_id = self._stories.get(draft.story_key)
            if holder_id and holder_id != draft.id:
                holder = self._get_locked(holder_id)
                if holder is not None and holder.holds_story(against=draft.conversation.requester_id):
                    return holder
            draft.updated_at = time.time()
            self._write_locked(draft)
            self._stories[draft.story_key] = draft.id
            return None

    def story_holder(self, story_key: str) -> str | None:
        with self._lock:
            return self._stories.get(story_key)

    def release_story(self, story_key: str, draft_id: str) -> None:
        with self._lock:
            if self._stories.get(story_key) == draft_id:
                del self._stories[story_key]

    def claim_once(self, token: str, owner: str, *, ttl_seconds: int = 600) -> bool:
        now = time.monotonic()
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v[0] > now}
            held = self._seen.setdefault(token, (now + ttl_seconds, owner))
            if held[1] == owner:
                self._seen[token] = (now + ttl_seconds, owner)
            return held[1] == owner

    def unsettled(self, *, limit: int = 100) -> list[str]:
        with self._lock:
            return sorted(self._unsettled, key=self._unsettled.__getitem__)[:limit]

    def forget_unsettled(self, draft_id: str) -> None:
        with self._lock:
            self._unsettled.pop(draft_id, None)

    def ping(self) -> bool:
        return True


class RedisDraftStore:
    """Drafts as JSON under `<namespace>:draft:<id>` with a TTL; any instance can continue any draft.
    `<namespace>:story:<KEY>` names a story's in-flight draft; `<namespace>:unsettled` (a sorted set, by last
    change) the drafts whose Approve outcome is still to be found out, written in the same transaction as each
    draft, for the sweeper."""

    def __init__(self, client: redis.Redis, *, ttl_seconds: int, namespace: str = "doe") -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self.prefix = f"{namespace}:draft:"
        self.story_prefix = f"{namespace}:story:"
        self.seen_prefix = f"{namespace}:seen:"
        self.quarantine_prefix = f"{namespace}:quarantine:"
        self.unsettled_key = f"{namespace}:unsettled"
        # Set-if-absent, then compare: does `owner` hold the token? Its owner asking again keeps it for another TTL.
        # (One round trip, on any Redis version.)
        self._claim_once = client.register_script(
            "local held = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) "
            "if held then return 1 end "
            "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]) return 1 end "
            "return 0"
        )
        # Compare-and-delete: only the holder releases the story.
        self._release = client.register_script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
        )

    @classmethod
    def from_url(cls, url: str, *, ttl_seconds: int, namespace: str = "doe") -> RedisDraftStore:
        # No health-check PING before using a connection: the submit's ack reads a draft, and every extra round
        # trip there showed in the ack's tail (bench/README.md). redis-py retries a command whose connection
        # turns out dead (its default Retry), so none is lost.
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return cls(client, ttl_seconds=ttl_seconds, namespace=namespace)

    def _key(self, draft_id: str) -> str:
        return self.prefix + draft_id

    def save(self, draft: Draft) -> None:
        draft.updated_at = time.time()
        try:
            with self._redis.pipeline(transaction=True) as pipe:  # MULTI/EXEC: the draft and its index entry together
                self._write(pipe, draft)
                pipe.execute()
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def _write(self, pipe: Pipeline, draft: Draft) -> None:
        """Queue the writes of one draft: its JSON, and its place in the index of unsettled drafts."""
        pipe.set(self._key(draft.id), draft.model_dump_json(), ex=self._ttl)
        if draft.unsettled:
            pipe.zadd(self.unsettled_key, {draft.id: draft.updated_at})
        else:
            pipe.zrem(self.unsettled_key, draft.id)

    def get(self, draft_id: str) -> Draft | None:
        try:
            raw = self._redis.get(self._key(draft_id))
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        return None if raw is None else self._read(draft_id, raw)

    def _read(self, draft_id: str, raw: bytes) -> Draft:
        """The stored draft, or DraftUnreadable after moving it aside (`<namespace>:quarantine:<id>`, kept for a
        week for whoever looks into it): an unreadable draft must never block its story or its buttons."""
        try:
            return Draft.model_validate_json(raw)
        except ValueError:
            log.warning("draft %s is unreadable: moved to quarantine", draft_id[:64])
            try:
                self._redis.rename(self._key(draft_id), self.quarantine_prefix + draft_id)
                self._redis.expire(self.quarantine_prefix + draft_id, 7 * 24 * 3600)
            except redis.RedisError:
                pass  # gone meanwhile, or Redis down: it expires with its TTL either way
            raise DraftUnreadable() from None

    def delete(self, draft_id: str) -> None:
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(draft_id))
                pipe.zrem(self.unsettled_key, draft_id)
                pipe.execute()
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def apply(self, draft_id: str, step: Callable[[Draft], T]) -> Applied[T] | None:
        """Compare-and-set under WATCH: if another instance changes the draft meanwhile, re-read and re-check."""
        key = self._key(draft_id)

        def attempt(pipe: Pipeline) -> Applied[T] | None:
            raw = pipe.get(key)
            applied = _run(self._read(draft_id, raw), step) if raw is not None else None
            if applied is None:
                pipe.unwatch()
                return None
            pipe.multi()
            self._write(pipe, applied.draft)
            pipe.execute()
            return applied

        return self._watched(key, attempt)

    def _watched(self, key: str, attempt: Callable[[Pipeline], T]) -> T:
        """Run `attempt` with `key` watched, again from the start whenever another client changed it."""
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        return attempt(pipe)
                    except redis.WatchError:
                        continue
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def claim_story(self, draft: Draft) -> Draft | None:
        """`doe:story:<KEY>` names the story's in-flight draft. Under WATCH (the claim and the holder's draft), the
        claim and the new draft are written in one MULTI/EXEC: two instances cannot both win, and no claim ever
        names a draft that does not exist yet."""
        key = self.story_prefix + draft.story_key

        def attempt(pipe: Pipeline) -> Draft | None:
            holder_id = pipe.get(key)
            if holder_id is not None and holder_id.decode() != draft.id:
                pipe.watch(self._key(holder_id.decode()))
                raw = pipe.get(self._key(holder_id.decode()))
                try:
                    holder = self._read(holder_id.decode(), raw) if raw is not None else None
                except DraftUnreadable:
                    holder = None  # set aside: it holds nothing
                if holder is not None and holder.holds_story(against=draft.conversation.requester_id):
                    pipe.unwatch()
                    return holder
            draft.updated_at = time.time()
            pipe.multi()
            self._write(pipe, draft)
            pipe.set(key, draft.id, ex=self._ttl)
            pipe.execute()
            return None

        return self._watched(key, attempt)

    def story_holder(self, story_key: str) -> str | None:
        try:
            held = self._redis.get(self.story_prefix + story_key)
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        return held.decode() if held is not None else None

    def release_story(self, story_key: str, draft_id: str) -> None:
        try:
            self._release(keys=[self.story_prefix + story_key], args=[draft_id])
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def claim_once(self, token: str, owner: str, *, ttl_seconds: int = 600) -> bool:
        try:
            return bool(self._claim_once(keys=[self.seen_prefix + token], args=[owner, ttl_seconds]))
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def unsettled(self, *, limit: int = 100) -> list[str]:
        try:
            return [i.decode() for i in self._redis.zrange(self.unsettled_key, 0, limit - 1)]
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def forget_unsettled(self, draft_id: str) -> None:
        try:
            self._redis.zrem(self.unsettled_key, draft_id)
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def eviction_risk(self) -> str | None:
        """What Redis would evict under memory pressure, if that can include drafts, story holds and queued steps
        (`maxmemory-policy` allkeys-*); None when it cannot (noeviction, volatile-*) or Redis won't say (managed
        services often refuse CONFIG)."""
        try:
            policy = str(self._redis.config_get("maxmemory-policy").get("maxmemory-policy") or "")
        except redis.RedisError:
            return None
        if policy.startswith("allkeys"):
            return policy
        return None

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False
