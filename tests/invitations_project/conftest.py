import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@pytest.fixture
def wsgi_app_shares_the_test_transaction():
    """Let requests made straight to the WSGI app run inside the test's transaction.

    The request signals would close the test's database connection after each request; Django's own
    test client disconnects them for the same reason.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
