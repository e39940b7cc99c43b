"""The benchmark scripts still run end to end, at a tiny size, and find nothing lost.

They set up and drop their own database (named for this run, beside the test database) and use the
test run's own Redis DB, so they never touch a benchmark someone is running by hand.
"""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


def bench_urls() -> list[str]:
    test_db = urlsplit(os.environ["DATABASE_URL"])
    database_url = urlunsplit(test_db._replace(path=f"/bench_smoke_{os.getpid()}"))
    return ["--database-url", database_url, "--redis-url", settings.REDIS_URL]


def run_bench(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, f"bench/{script}", *args, *bench_urls()],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_resend_load_benchmark_measures_both_phases_and_loses_no_resend():
    out = run_bench("resend_load.py", "--clients", "2", "--requests", "5", "--warmup", "2", "--workers", "1")
    assert "   get: 10 requests" in out
    assert "resend: 10 requests" in out
    assert "'accepted_resends': 10" in out and "'lost': 0" in out


def test_the_delivery_benchmark_delivers_every_attempt_once_through_real_workers():
    out = run_bench("delivery_throughput.py", "--attempts", "20", "--workers", "1")
    assert "noop: 20 jobs" in out and "delivery: 20 jobs" in out
    assert "'accepted': 20" in out and "'billing_events': 20" in out
    assert "'provider_called_more_than_once': 0" in out and "'lost': 0" in out
