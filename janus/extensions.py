"""Flask extensions, created unbound and bound in create_app."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints so Alembic can alter them later (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# The models' base class. db.Model is built at runtime (Base plus Flask-SQLAlchemy's query helpers,
# which Janus does not use), an attribute mypy cannot take a base class from; it checks against Base.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model


def init_migrations(app) -> None:
    """Bind Flask-Migrate. It imports Alembic (~0.1 s), so processes that only
    serve (stdio, workers) bind it lazily: `flask db …` and real migrations do."""
    if "migrate" in app.extensions:
        return
    from flask_migrate import Migrate

    Migrate(app, db, directory=migrations_dir(), render_as_batch=True)


def migrations_dir() -> str:
    """The Alembic scripts: at the repository top in a checkout, inside the package when installed."""
    package = Path(__file__).resolve().parent
    checkout = package.parent / "migrations"
    return str(checkout if (checkout / "env.py").exists() else package / "migrations")
