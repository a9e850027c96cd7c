"""The runner a deployment uses, chosen from its settings: RQ when REDIS_URL is set, else
the local worker process."""

from __future__ import annotations

from core.cache import get_store
from core.db.engine import get_engine
from core.jobs.local import LocalRunner
from core.jobs.rq import RqRunner, queue_name
from core.settings import Settings


def runner_for(settings: Settings) -> RqRunner | LocalRunner:
    """RqRunner on the queue of settings.database_url's deployment at settings.redis_url,
    or, without REDIS_URL, the LocalRunner."""
    if settings.redis_url:
        queue = queue_name(get_engine(settings.database_url))
        return RqRunner(get_store(settings.redis_url), queue)
    return LocalRunner()
