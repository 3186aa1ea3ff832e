"""gunicorn settings for Janus; the real ones live in janus/gunicorn_conf.py so an installed package has them too."""

from janus.gunicorn_conf import *  # noqa: F403 - gunicorn reads its settings from this module's globals
