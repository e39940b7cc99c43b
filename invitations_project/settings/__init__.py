"""Settings, read from the environment and split by concern; each module only reads and checks values.

With neither DATABASE_URL nor REDIS_URL set the service runs on the embedded default: SQLite,
delivery jobs run inline after commit, console email and SMS. Every variable is parsed and validated
at start-up by environs: a bad value stops the process with the variable's name and what is wrong.
Whatever starts with the process (the metrics directory, Sentry) starts in ops' AppConfig.ready.
"""

from invitations_project.settings.api import *  # noqa: F403
from invitations_project.settings.base import *  # noqa: F403
from invitations_project.settings.data import *  # noqa: F403
from invitations_project.settings.delivery import *  # noqa: F403
from invitations_project.settings.observability import *  # noqa: F403
from invitations_project.settings.security import *  # noqa: F403
from invitations_project.settings.webhooks import *  # noqa: F403
