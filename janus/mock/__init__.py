"""Demo upstream services (the reference's LCH examples) served under /api/mock.

Deterministic per member: the same member_id always gets the same figures,
so demos and tests can assert on them.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, jsonify, request

bp = Blueprint("mock", __name__, url_prefix="/api/mock")

_CURRENCIES = ("GBP", "EUR", "USD", "JPY", "CHF")
_ISINS = (
    ("GB00BL68HJ26", "UK Gilt 0.125% 2026", "Government Bond", 0.5),
    ("DE0001102580", "Bund 0% 2032", "Government Bond", 1.0),
    ("US912828ZT04", "US Treasury 0.25% 2025", "Government Bond", 0.5),
    ("FR0013508470", "OAT 0% 2030", "Government Bond", 2.0),
    ("XS2325733413", "EIB 0.01% 2031", "Supranational Bond", 3.0),
)


def _member_id():
    member_id = (request.args.get("member_id") or "").strip()
    if not member_id:
        return None, (
            jsonify(
                error="bad_request", message="Query parameter 'member_id' is required, e.g. ?member_id=MEM-LCH-001"
            ),
            400,
        )
    return member_id, None


def _rng(member_id: str, salt: str) -> random.Random:
    seed = hashlib.sha256(f"{salt}:{member_id}".encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))  # noqa: S311 - repeatable demo data, not secrets


def _business_day() -> date:
    day = date.today() - timedelta(days=1)  # noqa: DTZ011 - the demo's business day is the host's calendar day
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


@bp.get("/dpg/trade-volume")
def dpg_trade_volume():
    member_id, error = _member_id()
    if error:
        return error
    rng = _rng(member_id, "dpg")
    breakdown: list[dict[str, Any]] = []
    for currency in _CURRENCIES:
        trades = rng.randint(40, 900)
        notional = round(trades * rng.uniform(2.5e5, 4.0e6), 2)
        breakdown.append({"currency": currency, "trade_count": trades, "notional": notional})
    return jsonify(
        member_id=member_id,
        service="Dealer Platform Gateway (DPG)",
        business_date=_business_day().isoformat(),
        total_trades=sum(b["trade_count"] for b in breakdown),
        total_notional_gbp_equivalent=round(sum(b["notional"] for b in breakdown) * 0.79, 2),
        currency_breakdown=breakdown,
    )


@bp.get("/collateral/non-cash")
def non_cash_collateral():
    member_id, error = _member_id()
    if error:
        return error
    rng = _rng(member_id, "collateral")
    holdings: list[dict[str, Any]] = []
    for isin, name, asset_class, haircut in rng.sample(_ISINS, k=3):
        nominal = rng.randint(5, 250) * 1_000_000
        price = round(rng.uniform(88.0, 101.5), 3)
        market_value = round(nominal * price / 100, 2)
        holdings.append(
            {
                "isin": isin,
                "description": name,
                "asset_class": asset_class,
                "nominal": nominal,
                "clean_price": price,
                "market_value": market_value,
                "haircut_percent": haircut,
                "collateral_value": round(market_value * (1 - haircut / 100), 2),
            }
        )
    return jsonify(
        member_id=member_id,
        as_of=_business_day().isoformat(),
        currency="GBP",
        total_market_value=round(sum(h["market_value"] for h in holdings), 2),
        total_collateral_value=round(sum(h["collateral_value"] for h in holdings), 2),
        holdings=holdings,
    )
