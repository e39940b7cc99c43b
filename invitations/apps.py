from django.apps import AppConfig


class InvitationsConfig(AppConfig):
    name = "invitations"

    def ready(self) -> None:
        from invitations.services.transitions import INVITATION_EVENT_TYPES
        from webhooks.events import register_event_types

        # The event types endpoints may subscribe to; webhooks itself knows none of them.
        register_event_types(INVITATION_EVENT_TYPES, data="invitations.serializers.InvitationEventDataSerializer")
