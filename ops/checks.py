"""Checks the settings make at start-up: a production secret that is a placeholder or too short, and
a directory that must be private to the deployment. Pure functions: they read, they never change."""

import os
import stat
from functools import cache
from pathlib import Path

SECRET_MIN_LENGTH = 32
# A random secret of 32 or more characters has far more different characters than this, and never
# a run this long of consecutive ones (0123…, abcd…, zyxw…).
SECRET_MIN_DISTINCT = 12
SECRET_MAX_SEQUENCE = 6
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
    if len(set(value)) < SECRET_MIN_DISTINCT:
        return f"has fewer than {SECRET_MIN_DISTINCT} different characters: set a random value"
    if _longest_sequence(value) > SECRET_MAX_SEQUENCE:
        return "contains a run of consecutive characters (such as 0123456 or abcdefg): set a random value"
    return ""


def _longest_sequence(value: str) -> int:
    """The longest run of characters each one above (or each one below) the one before."""
    longest = run = 1
    step = 0
    for before, char in zip(value, value[1:], strict=False):
        difference = ord(char) - ord(before)
        if difference in (1, -1) and (run == 1 or difference == step):
            run, step = run + 1, difference
        else:
            run, step = (2, difference) if difference in (1, -1) else (1, 0)
        longest = max(longest, run)
    return longest


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
