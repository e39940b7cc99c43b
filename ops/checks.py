"""Checks the settings make at start-up: a production secret that is a placeholder or too short, and
a directory that must be private to the deployment. Pure functions: they read, they never change."""

import os
import stat
from functools import cache
from pathlib import Path

SECRET_MIN_LENGTH = 32
BASE_DIR = Path(__file__).resolve().parent.parent
# The example environment file: none of its values may be a real secret.
ENV_EXAMPLE = BASE_DIR / "deploy" / "env.example"
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "placeholder", "insecure")


@cache
def example_values() -> frozenset[str]:
    """Every value in deploy/env.example (commented-out lines included)."""
    try:
        lines = ENV_EXAMPLE.read_text().splitlines()
    except OSError:
        return frozenset()
    values = set()
    for line in lines:
        line = line.strip().lstrip("#").strip()
        name, equals, value = line.partition("=")
        if equals and name.isidentifier() and name.isupper():
            values.add(value.strip())
    return frozenset(values)


def secret_problem(value: str) -> str:
    """Why ``value`` cannot be a production secret, or "" when it can."""
    lowered = value.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS) or value in example_values():
        return "is a placeholder: set a random value of its own"
    if len(value) < SECRET_MIN_LENGTH:
        return f"is shorter than {SECRET_MIN_LENGTH} characters: set a longer random value"
    return ""


def private_directory(path: Path) -> str:
    """Make ``path`` (mode 0700) if it is missing; why it is not private to this user, or ""."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        return f"{path} cannot be made: {exc.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if info.st_uid != os.geteuid():
        return f"{path} belongs to another user (uid {info.st_uid}): use a directory of this deployment's own"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} may be written by other users (mode {stat.S_IMODE(info.st_mode):o}): chmod 700 it"
    return ""


def metrics_directory(environ) -> str:
    """Where every process of the deployment writes its metrics samples: PROMETHEUS_MULTIPROC_DIR, by
    default var/metrics in the checkout when REDIS_URL is set (several processes), else none (the
    embedded default keeps them in memory). The settings and gunicorn's master both ask here."""
    default = str(BASE_DIR / "var" / "metrics") if environ.get("REDIS_URL") else ""
    return environ.get("PROMETHEUS_MULTIPROC_DIR", default)
