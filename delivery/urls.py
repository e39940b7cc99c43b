"""Provider webhooks, mounted under /webhooks/."""

from anymail import urls as anymail_urls
from django.urls import include, path
from django.urls.resolvers import URLPattern

from delivery.providers import anymail, twilio

TRACKING_SUFFIX = "_tracking_webhook"


def _enveloped_anymail_patterns() -> list[URLPattern]:
    # Every ESP's tracking view, as anymail mounts them (no inbound mail), each wrapped: it answers
    # only for the ESPs that EMAIL_BACKEND (EMAIL_BACKENDS) names, and 404 like an unknown URL for every other.
    return [
        URLPattern(
            pattern.pattern,
            anymail.anymail_view(pattern.callback, esp=pattern.name.removesuffix(TRACKING_SUFFIX)),
            pattern.default_args,
            pattern.name,
        )
        for pattern in anymail_urls.urlpatterns
        if pattern.name and pattern.name.endswith(TRACKING_SUFFIX)
    ]


urlpatterns = [
    path("anymail/", include((_enveloped_anymail_patterns(), "anymail"))),
    path("twilio/status", twilio.twilio_status_callback, name="twilio-status-callback"),
]
