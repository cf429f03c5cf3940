"""Settings for pytest: the real PostgreSQL and Redis, a test secret, plain-http cookies."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("NODUS_HTTPS", "0")
os.environ.setdefault("NODUS_CHANNEL_PREFIX", "nodus-test")

from .settings import *  # noqa: E402,F403
from .settings import CHANNEL_LAYERS, REDIS_URL  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users in tests

# Tests use their own Redis database so a running `make run` worker never steals test tasks.
if REDIS_URL.startswith("redis://") and REDIS_URL.rstrip("/").rsplit("/", 1)[-1].isdigit():
    REDIS_URL = REDIS_URL.rstrip("/").rsplit("/", 1)[0] + "/" + os.environ.get("NODUS_TEST_REDIS_DB", "9")
    CELERY_BROKER_URL = REDIS_URL
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [REDIS_URL]  # type: ignore[index]
NODUS_STORAGE = os.environ.get("NODUS_TEST_STORAGE", "/tmp/nodus-test-storage")  # noqa: S108
