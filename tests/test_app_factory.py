"""What create_app registers, by configuration."""

from __future__ import annotations

from tests.conftest import make_app


def test_the_demo_mock_services_exist_only_with_seed_demo_data(tmp_path):
    # They are open endpoints: issue 10, item 12.
    plain = make_app({"DATABASE_PATH": str(tmp_path / "plain.db")})
    demo = make_app({"DATABASE_PATH": str(tmp_path / "demo.db")}, SEED_DEMO_DATA="true")
    url = "/api/mock/dpg/trade-volume?member_id=MEM-LCH-001"

    assert plain.test_client().get(url).status_code == 404
    assert not any(rule.rule.startswith("/api/mock") for rule in plain.url_map.iter_rules())
    assert demo.test_client().get(url).status_code == 200
