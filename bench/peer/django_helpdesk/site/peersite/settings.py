"""Settings for a minimal django-helpdesk site used only as a benchmark peer.

Production-like where it changes the figures (DEBUG off, persistent database
connections, no debug toolbar), minimal everywhere else. Paths come from the
environment so that nothing generated lands in the source tree; run.sh sets
them under target/peer/.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# bench/peer/django_helpdesk/site/peersite/settings.py -> repository root
REPO_ROOT = Path(__file__).resolve().parents[5]
STATE_DIR = Path(os.environ.get("PEER_STATE_DIR", REPO_ROOT / "target" / "peer"))

# Only ever served on loopback for measurement; the key protects nothing real.
SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "peer-bench-not-a-secret-3f9a1c")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]

# As listed by django-helpdesk's install guide, minus the pinax-teams apps:
# teams mode is switched off below (its docs describe that option), so
# 'account', 'pinax.invitations', 'pinax.teams' and 'reversion' are not needed.
# The old guide's 'bootstrap4form' is not needed either: 2.x ships its own
# bootstrap5_form template tags. rest_framework is needed for its REST API.
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "django_cleanup.apps.CleanupConfig",
    "helpdesk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "peersite.urls"
WSGI_APPLICATION = "peersite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite in WAL mode with synchronous=FULL, the same durability setting as the
# SQLite figures it is compared with. IMMEDIATE transactions avoid the
# "database is locked" upgrade failures two writer processes otherwise hit.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("PEER_DB", str(STATE_DIR / "helpdesk.sqlite3")),
        "CONN_MAX_AGE": 600,
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
        },
    }
}

AUTH_PASSWORD_VALIDATORS = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = str(STATE_DIR / "static")
MEDIA_URL = "/media/"
MEDIA_ROOT = str(STATE_DIR / "media")

DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SITE_ID = 1
LOGIN_URL = "/helpdesk/login/"
LOGIN_REDIRECT_URL = "/helpdesk/"

# New-ticket notifications are rendered as usual but never leave the process.
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
DEFAULT_FROM_EMAIL = "helpdesk@example.com"

# django-helpdesk options.
HELPDESK_TEAMS_MODE_ENABLED = False
HELPDESK_API_ENABLED = True
HELPDESK_REDIRECT_TO_LOGIN_BY_DEFAULT = True

# The API authenticates with the same session the staff pages use (CSRF
# enforced on writes) or HTTP Basic; DRF's defaults, spelled out.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
