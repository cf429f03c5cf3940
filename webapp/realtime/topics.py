"""Websocket topics and who may subscribe to them (checked per subscription)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

TOPIC_RE = re.compile(r"^(project|series|job|training)\.([A-Za-z0-9.\-]{1,64})$")


class BadTopic(ValueError):
    pass


def parse(topic: str) -> tuple[str, str]:
    m = TOPIC_RE.match(topic or "")
    if not m:
        raise BadTopic("topic must be project.<slug>, series.<uid>, job.<id> or training.<id>")
    return m.group(1), m.group(2)


def group_name(topic: str) -> str:
    # Channels group names are limited in length and alphabet; hash the topic.
    return "t." + hashlib.sha256(topic.encode()).hexdigest()


def can_subscribe(*, user: Any, topic: str) -> bool:
    """Same rule as the REST API for the object behind the topic; unknown objects are refused."""
    from webapp.accounts.models import Role
    from webapp.accounts.selectors import roles_in
    from webapp.imaging.selectors import series_for
    from webapp.labeling.selectors import project_list_for

    if not user.is_authenticated:
        return False
    kind, key = parse(topic)
    if kind == "project":
        return project_list_for(user=user).filter(slug=key).exists()
    if kind == "series":
        return series_for(user=user).filter(series_instance_uid=key).exists()
    if not key.isdigit():
        return False
    if kind == "job":
        from webapp.ml.models import InferenceJob

        job = InferenceJob.objects.filter(pk=int(key)).values("project_id").first()
        return job is not None and bool(roles_in(user=user, project_id=job["project_id"]))
    from webapp.ml.models import TrainingRun

    run = TrainingRun.objects.filter(pk=int(key)).values("project_id").first()
    return run is not None and Role.ADMIN in roles_in(user=user, project_id=run["project_id"])
