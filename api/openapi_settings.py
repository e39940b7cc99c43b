"""drf-spectacular's settings: how the OpenAPI description at /v1/openapi.json and the reference page
at /docs/ are made. Plain data, read by the settings (nothing here comes from the environment)."""

OPENAPI_SETTINGS = {
    "TITLE": "AutoDoc invitations API",
    "DESCRIPTION": "Send identity-verification invitations by email and SMS, follow their lifecycle and resend "
    'them safely. Every error has the envelope {"error": {"type", "message", ...}}.',
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": r"/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "JwtAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A short-lived token for a dashboard user, issued by POST /v1/auth/token. It names "
                "the organization and acts in live mode with that user's role.",
            }
        }
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.openapi.postprocess_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "invitations.models.Invitation.Channel",
        "StatusEnum": "invitations.models.Invitation.Status",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge fetched from the public validator.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}
