"""The benchmark scripts still run end to end, at a tiny size, and find nothing lost.

They set up and drop their own database (named for this run, beside the test database) and use the
test run's own Redis DB, so they never touch a benchmark someone is running by hand.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

pytestmark = pytest.mark.bench

PROJECT_DIR = Path(__file__).resolve().parents[2]


def bench_database_url() -> str:
    test_db = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(test_db._replace(path=f"/bench_smoke_{os.getpid()}"))


def bench_urls() -> list[str]:
    return ["--database-url", bench_database_url(), "--redis-url", settings.REDIS_URL]


def run_bench(script: str, *args: str, urls_in_environment: bool = False) -> str:
    if urls_in_environment:
        command = [sys.executable, f"bench/{script}", *args]
        env = {**os.environ, "DATABASE_URL": bench_database_url(), "REDIS_URL": settings.REDIS_URL}
    else:
        command = [sys.executable, f"bench/{script}", *args, *bench_urls()]
        env = None
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_resend_load_benchmark_measures_every_phase_and_loses_no_resend():
    out = run_bench(
        "resend_load.py",
        *("--clients", "2", "--requests", "5", "--warmup", "2", "--workers", "1"),
        *("--wrk-seconds", "1", "--wrk-max-rate", "400", "--rate", "20", "--rate-seconds", "1"),
    )
    assert "     get: 10 requests" in out
    assert "  resend: 10 requests" in out
    assert re.search(r"wrk closed loop, 2 connections.*\n +get: [1-9]\d* requests", out), out
    assert re.search(r"CPU ms per resend: gunicorn \d+\.\d+, postgres \d+\.\d+", out), out
    assert "open loop at 20.0 resends/s for 1.0 s" in out and "resend: 20 requests" in out
    assert re.search(r"open loop at \d+\.\d resends/s", out.split("open loop at 20.0")[1]), out
    assert "'lost': 0" in out and "'half_written': False" in out


def test_the_delivery_benchmark_delivers_every_attempt_once_through_real_workers():
    out = run_bench("delivery_throughput.py", "--attempts", "20", "--workers", "1")
    assert "noop: 20 jobs" in out and "delivery: 20 jobs" in out
    assert "'accepted': 20" in out and "'billing_events': 20" in out
    assert "'provider_called_more_than_once': 0" in out and "'lost': 0" in out


def test_the_request_cost_benchmark_times_each_kind_of_call():
    out = run_bench("request_cost.py", "--repeat", "3")
    for name in (
        "GET one invitation",
        "resend",
        "delivery job, warm connection",
        "delivery job, new connection",
        "GET, request log off",
        "GET, request log on",
        "resend, log and Idempotency-Key",
    ):
        assert re.search(rf"^ *{name}: \d+\.\d ms$", out, re.MULTILINE), out
    for cost in ("request log on a GET", "request log on a resend", "Idempotency-Key on a resend"):
        assert re.search(rf"^{cost}: [+-]\d+\.\d %$", out, re.MULTILINE), out
    # Every request timed with the log on, warm-up included, left its entry: 2 * 20 warm-up, then 3 of
    # each of the five kinds that log (GET, resend, and the three "on" rows).
    assert "request log entries written and moved to PostgreSQL: 55\n" in out, out


def test_the_bulk_resend_benchmark_resends_every_invitation_once_with_its_job():
    out = run_bench("bulk_resend.py", "--count", "60", "--batch-size", "25", urls_in_environment=True)
    # Three command batches (25, 25, 10), each one delivery job (DELIVERY_BATCH_SIZE is 50).
    assert "command: 60 resent, 3 batch jobs enqueued" in out, out
    checks = re.findall(r"^check (.+): (\w+)$", out, re.MULTILINE)
    assert len(checks) == 5 and all(result == "ok" for _, result in checks), out


def test_the_webhook_fanout_benchmark_delivers_every_event_once_with_a_silent_endpoint_beside():
    out = run_bench("webhook_fanout.py", "--events", "60", "--workers", "2", "--timeout", "2")
    assert out.count("'delivered': 60, 'lost': 0, 'sent_twice': 0") == 2, out
    assert "slowdown from the silent endpoint:" in out


def test_the_list_scale_benchmark_pages_and_sweeps_a_seeded_table():
    out = run_bench("list_scale.py", "--rows", "3000", "--repeat", "2")
    assert "seeded 3000 invitations and attempts" in out, out
    assert "'total': 3000, 'totalPages': 150, 'page': 1, 'perPage': 20, 'totalCapped': False" in out, out
    assert "sweep found 1000, enqueued 1000" in out, out
    for name in ("list page 1", "list page 500", "sweep query (stale attempts)", "sweep, query and enqueue"):
        assert re.search(rf"^ *{re.escape(name)}: \d+\.\d ms$", out, re.MULTILINE), out


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_the_provider_latency_benchmark_sends_every_invitation_once_through_the_fake_provider(channel):
    out = run_bench(
        "provider_latency.py",
        *("--count", "40", "--workers", "2", "--latency", "0.05", "--timeout", "120", "--channel", channel),
    )
    assert f"channel: {channel}, workers: 2" in out, out
    assert "sent: 40 of 40" in out, out
    assert "lost: 0" in out and "provider: 40 distinct attempts, 0 sent twice" in out, out
    assert "billing events: 40" in out, out
    assert re.search(r"^workers' peak memory: \d+ MiB$", out, re.MULTILINE), out


def test_the_fairness_benchmark_sends_every_invitation_while_another_tenant_holds_its_endpoints():
    out = run_bench("fairness.py", "--invitations", "4", "--rate", "4", "--tests-per-endpoint", "1")
    assert out.count("lost: 0") == 2, out
    assert re.search(r"with_attacker:\n +create -> sent: +p50 \d+ ms, p99 \d+ ms, max \d+ ms \(4\)", out), out
    assert re.search(r"create -> webhook received: +p50 \d+ ms, p99 \d+ ms, max \d+ ms \(4\)", out), out
    in_flight = int(re.search(r"the attacker's tries in flight at most: (\d+)", out).group(1))
    assert 1 <= in_flight <= 4


def test_the_batch_create_benchmark_compares_a_batch_with_single_creates():
    out = run_bench("batch_create.py", "--count", "5", "--rounds", "1")
    assert "single creates: wall" in out and "one batch: wall" in out, out
    assert re.search(r"^batch / singles CPU: \d+\.\d+ \(target at most 0\.2\)", out, re.MULTILINE), out
    assert "invitations made: 15" in out, out


def test_the_provider_latency_benchmark_fails_over_to_the_second_provider_and_back():
    out = run_bench(
        "provider_latency.py",
        *("--count", "60", "--workers", "2", "--latency", "0.05", "--timeout", "120", "--failover"),
    )
    assert "sent: 60 of 60" in out and "lost: 0" in out, out
    assert "provider: 60 distinct attempts, 0 sent twice" in out, out
    assert re.search(r"^providers: postmark took \d+ and was called \d+ times, sendgrid took \d+", out, re.MULTILINE), (
        out
    )
    assert "billing events: 60" in out, out


def test_the_delivery_health_benchmark_counts_every_seeded_attempt_and_times_each_read():
    out = run_bench("delivery_health.py", "--attempts", "2000", "--repeat", "2")
    assert "seeded 2200 attempts (2000 live of one organization)" in out, out
    # The live key's organization, live only: its 2000, each counted once; 80 % of them delivered.
    assert "/v1/stats 24h counts 2000 attempts" in out, out
    assert re.search(r"full refresh: \d+ hours from 2200 attempts", out), out
    for name in ("GET /v1/stats?period=24h", "GET /v1/stats?period=30d", "health page, 24h, all"):
        assert re.search(rf"^ *{re.escape(name)}: median \d+\.\d ms, slowest \d+\.\d ms$", out, re.MULTILINE), out
