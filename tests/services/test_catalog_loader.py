"""A catalogue change re-reads only the rows it touched, and ends where a full load would."""

from __future__ import annotations

from sqlalchemy import event, select, update

from janus.extensions import db
from janus.models import CATALOG_COUNTER, CatalogChange, ChangeCounter, ClientToken, Connection, Endpoint
from janus.services.catalog_loader import load_changes, load_snapshot
from tests.support.catalog import ID_SCHEMA, add_connection, add_endpoint, add_token


def _same(a, b) -> None:
    """Two snapshots serve the same: tools (by name, in order), tokens, version."""
    assert a.version == b.version
    assert [t.name for t in a.tools] == [t.name for t in b.tools]
    assert a.by_name == b.by_name
    assert a.tokens == b.tokens
    assert a.listing(None).fingerprint == b.listing(None).fingerprint


def _statements(engine, run):
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        result = run()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return result, seen


def test_each_change_applied_alone_matches_a_full_load(app):
    with app.app_context():
        engine = db.engine
    weather = add_connection(app, "Weather", "http://127.0.0.1:9", "weather_")
    forecast = add_endpoint(app, weather, "get_forecast", "/forecast")
    add_endpoint(app, weather, "get_station", "/stations/{{id}}", schema=ID_SCHEMA)
    token = add_token(app, "W", "w" * 30, "weather_*")
    snapshot = load_snapshot(engine)
    snapshot.validator(snapshot.by_name["weather_get_station"])  # compiled once, kept by later snapshots
    kept = snapshot._validators["weather_get_station"]

    def edit(change):
        with app.app_context():
            change()
            db.session.commit()

    steps = [
        lambda: add_endpoint(app, weather, "get_alerts", "/alerts"),
        lambda: edit(lambda: setattr(db.session.get(Endpoint, forecast), "description", "Five days ahead")),
        lambda: edit(lambda: setattr(db.session.get(Endpoint, forecast), "enabled", False)),
        lambda: add_connection(app, "Stocks", "http://127.0.0.1:9", "stocks_"),
        lambda: edit(lambda: setattr(db.session.get(ClientToken, token), "scopes", "weather_get_*")),
        lambda: add_token(app, "S", "s" * 30, "stocks_*"),
        lambda: edit(lambda: setattr(db.session.get(Connection, weather), "enabled", False)),
        lambda: edit(lambda: setattr(db.session.get(Connection, weather), "enabled", True)),
        lambda: edit(lambda: setattr(db.session.get(Connection, weather), "prefix", "wx_")),
        lambda: edit(lambda: db.session.delete(db.session.get(ClientToken, token))),
        lambda: edit(lambda: db.session.delete(db.session.get(Connection, weather))),
    ]
    for i, step in enumerate(steps):
        step()
        updated = load_changes(engine, snapshot)
        assert updated is not None and updated is not snapshot
        _same(updated, load_snapshot(engine))
        snapshot = updated
        if i < 6:  # until its connection changes, the tool is untouched: its compiled schema is kept
            assert snapshot._validators["weather_get_station"] is kept
    assert snapshot.by_name == {} and [t.name for t in snapshot.tokens.values()] == ["S"]


def test_a_change_reads_the_rows_it_touched_not_the_catalogue(app):
    with app.app_context():
        engine = db.engine
    ids = [add_connection(app, f"Service {i}", "http://127.0.0.1:9", f"svc{i}_") for i in range(5)]
    for conn_id in ids:
        for t in range(20):
            add_endpoint(app, conn_id, f"get_{t}", "/x")
    snapshot = load_snapshot(engine)
    add_endpoint(app, ids[2], "get_new", "/new")

    updated, statements = _statements(engine, lambda: load_changes(engine, snapshot))

    assert updated is not None and "svc2_get_new" in updated.by_name and len(updated.tools) == 101
    reads = [s for s in statements if "FROM endpoints" in s]
    assert len(reads) == 1 and "endpoints.id IN" in reads[0]  # the one new endpoint, by id
    assert updated.tools[0] is snapshot.tools[0]  # untouched tools are the same objects


def test_no_change_costs_one_query_and_keeps_the_snapshot(app):
    with app.app_context():
        engine = db.engine
    add_connection(app, "Weather", "http://127.0.0.1:9", "weather_")
    snapshot = load_snapshot(engine)
    same, statements = _statements(engine, lambda: load_changes(engine, snapshot))
    assert same is snapshot and len(statements) == 1


def test_a_change_the_log_does_not_name_falls_back_to_a_full_load(app):
    with app.app_context():
        engine = db.engine
    add_connection(app, "Weather", "http://127.0.0.1:9", "weather_")
    snapshot = load_snapshot(engine)
    with app.app_context():  # as code from before the log (or a hand-edited database) would bump it
        db.session.execute(
            update(ChangeCounter).where(ChangeCounter.name == CATALOG_COUNTER).values(value=ChangeCounter.value + 1)
        )
        db.session.commit()
    assert load_changes(engine, snapshot) is None


def test_every_touched_row_is_logged_under_the_counter_value_of_its_change(app):
    weather = add_connection(app, "Weather", "http://127.0.0.1:9", "weather_")
    ep = add_endpoint(app, weather, "get_forecast", "/forecast")
    token = add_token(app, "W", "w" * 30, "weather_*")
    with app.app_context():
        rows = db.session.execute(
            select(CatalogChange.seq, CatalogChange.kind, CatalogChange.row_id).order_by(CatalogChange.id)
        ).all()
        counter = db.session.scalar(select(ChangeCounter.value).where(ChangeCounter.name == CATALOG_COUNTER))
    assert [(r.kind, r.row_id) for r in rows] == [("connection", weather), ("endpoint", ep), ("token", token)]
    assert [r.seq for r in rows] == [counter - 2, counter - 1, counter]
