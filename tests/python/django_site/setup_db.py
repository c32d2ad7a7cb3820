"""Creates the test database: migrations and an admin user (run by the tests)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_site.settings")

import django  # noqa: E402

django.setup()
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

db = settings.DATABASES["default"]["NAME"]
if os.path.exists(db):
    os.remove(db)
call_command("migrate", verbosity=0)
get_user_model().objects.create_superuser("admin", "admin@example.org", "squall-test-pw")
