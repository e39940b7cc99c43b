"""Provider webhooks, mounted under /webhooks/."""

from anymail import urls as anymail_urls
from django.urls import include, path
from django.urls.resolvers import URLPattern

from delivery import webhooks


def _enveloped_anymail_patterns() -> list[URLPattern]:
    # Every ESP's tracking (and inbound) view, as anymail mounts them, each wrapped for the envelope.
    return [
        URLPattern(pattern.pattern, webhooks.anymail_view(pattern.callback), pattern.default_args, pattern.name)
        for pattern in anymail_urls.urlpatterns
    ]


urlpatterns = [
    path("anymail/", include((_enveloped_anymail_patterns(), "anymail"))),
    path("twilio/status", webhooks.twilio_status_callback, name="twilio-status-callback"),
]
