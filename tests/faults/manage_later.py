"""``manage.py`` with its clock FAULTS_CLOCK_AHEAD_SECONDS ahead of the machine's.

    python -m tests.faults.manage_later rqworker delivery --burst

A process started "after" a lease or grace period ran out, without the test waiting for it. The
clock keeps ticking from there; forked children (rq's work horses) inherit it.
"""

import os
import sys
from datetime import UTC, datetime, timedelta

import time_machine

CLOCK_AHEAD_ENV = "FAULTS_CLOCK_AHEAD_SECONDS"


def main() -> None:
    ahead = timedelta(seconds=float(os.environ[CLOCK_AHEAD_ENV]))
    time_machine.travel(datetime.now(UTC) + ahead, tick=True).start()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invitations_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *sys.argv[1:]])


if __name__ == "__main__":
    main()
