"""`flask db …` without importing Alembic in every process.

Flask-Migrate registers its `db` group from Migrate.init_app, which imports
Alembic (~0.1 s). create_app stays lean, so this stand-in group loads the real
one, and binds Flask-Migrate to the app, only when `flask db` actually runs.
"""

from __future__ import annotations

import click
from flask import g
from flask.cli import ScriptInfo, with_appcontext


class LazyMigrateGroup(click.Group):
    def _real(self) -> click.Group:
        from flask_migrate.cli import db

        return db

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._real().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._real().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        from janus.extensions import init_migrations

        init_migrations(ctx.ensure_object(ScriptInfo).load_app())
        return super().invoke(ctx)


@click.group(cls=LazyMigrateGroup, name="db")
@click.option("-d", "--directory", default=None, help="Migration script directory (default: Janus's migrations)")
@click.option("-x", "--x-arg", multiple=True, help="Additional arguments consumed by custom env.py scripts")
@with_appcontext
def db_group(directory, x_arg) -> None:
    """Perform database migrations (Flask-Migrate / Alembic)."""
    # Flask-Migrate's own group callback does exactly this; its commands read g.
    g.directory = directory
    g.x_arg = x_arg
