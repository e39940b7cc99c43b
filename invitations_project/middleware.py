from django.conf import settings

from invitations_project.errors import ApiError, InvalidRequest, json_error


class PayloadTooLarge(ApiError):
    status_code = 413
    type = "payload_too_large"


class ApiBodySizeLimitMiddleware:
    """Refuse an API body over API_MAX_BODY_BYTES before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/v1/"):
            raw_length = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw_length)
            except ValueError:
                return json_error(InvalidRequest("The Content-Length header is not a number."))
            if length > settings.API_MAX_BODY_BYTES:
                return json_error(
                    PayloadTooLarge(f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes.")
                )
        return self.get_response(request)
