"""Who is calling (``Principal``) and who an audit row names (``Actor``)."""

import getpass
from dataclasses import dataclass

from django.contrib.auth.models import AbstractUser

from accounts.models import ActorKind, ApiKey, Membership, Organization

REMINDER_LABEL = "reminder"
EXPIRY_WARNING_LABEL = "expiry_warning"
FALLBACK_LABEL = "fallback"
WRITE_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.ADMIN, Membership.Role.AGENT})


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    label: str
    user_id: int | None = None
    api_key_id: int | None = None

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> "Actor":
        return cls(kind=ActorKind.API_KEY, label=f"api_key:{api_key.prefix}", api_key_id=api_key.pk)

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(kind=ActorKind.USER, label=f"user:{user.get_username()}", user_id=user.pk)

    @classmethod
    def for_staff(cls, user) -> "Actor":
        """A support agent acting in the Django admin."""
        return cls(kind=ActorKind.STAFF, label=f"staff:{user.get_username()}", user_id=user.pk)

    @classmethod
    def system(cls, label: str) -> "Actor":
        return cls(kind=ActorKind.SYSTEM, label=f"system:{label}")

    @classmethod
    def fallback(cls) -> "Actor":
        """The service moving an invitation to its fallback channel (API.md: kind system, label fallback)."""
        return cls(kind=ActorKind.SYSTEM, label=FALLBACK_LABEL)

    @classmethod
    def expiry_warning(cls) -> "Actor":
        """The service warning that a link expires (API.md: kind system, label expiry_warning)."""
        return cls(kind=ActorKind.SYSTEM, label=EXPIRY_WARNING_LABEL)

    @classmethod
    def reminder(cls) -> "Actor":
        """The service sending an automatic reminder (API.md: kind system, label reminder)."""
        return cls(kind=ActorKind.SYSTEM, label=REMINDER_LABEL)

    @classmethod
    def recipient(cls, label: str) -> "Actor":
        """The person invited, acting through their link."""
        return cls(kind=ActorKind.RECIPIENT, label=f"recipient:{label}")

    @classmethod
    def for_command(cls, name: str) -> "Actor":
        """An operator running a management command, named with the OS user who ran it."""
        try:
            os_user = getpass.getuser()
        except (KeyError, OSError):
            os_user = "unknown"
        return cls(kind=ActorKind.COMMAND, label=f"command:{name} ({os_user})")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of the API: an organization, a mode, and a role."""

    organization: Organization
    livemode: bool
    actor: Actor
    role: str = Membership.Role.OWNER
    api_key: ApiKey | None = None
    user: AbstractUser | None = None

    is_authenticated = True

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES
