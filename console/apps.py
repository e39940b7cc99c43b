from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """django.contrib.admin with the console's own site (two-factor when ADMIN_OTP_REQUIRED)."""

    default_site = "console.sites.ConsoleAdminSite"
    verbose_name = "Support console"
