"""The interaction and vote log: SQLAlchemy models, Alembic migrations, and the writer."""
