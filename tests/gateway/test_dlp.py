"""DLP detectors: each class masked, and the look-alikes an honest answer is full of left alone."""

from __future__ import annotations

import json

import pytest

from janus.gateway import dlp
from tests.support import fake_credentials

JWT = fake_credentials.jwt()
AZURE_KEY = fake_credentials.azure_storage_key()  # 88 characters ending "=="


# Made at run time (tests/support/fake_credentials.py); the ids stay fixed so xdist workers collect alike.
MASKED = [
    ("write to jane.doe+news@mail.example.co.uk today", "email"),
    ("card 4111 1111 1111 1111 on file", "card"),
    ("card 5500-0000-0000-0004", "card"),
    ("amex 378282246310005.", "card"),
    (f"token {JWT}", "jwt"),
    (f"key {fake_credentials.aws_access_key_id()} in use", "aws_key"),
    (f"session {fake_credentials.aws_access_key_id('ASIA')}", "aws_key"),
    (f"maps {fake_credentials.gcp_api_key()}", "gcp_key"),
    ("IBAN DE89 3704 0044 0532 0130 00.", "iban"),
    ("IBAN GB29NWBK60161331926819", "iban"),
]


@pytest.mark.parametrize("text, kind", MASKED, ids=[f"{kind}-{i}" for i, (_, kind) in enumerate(MASKED)])
def test_each_class_is_masked_and_counted(text, kind):
    findings = dlp.Findings()
    masked = dlp.mask_text(text, findings)
    assert f"[redacted:{kind}]" in masked
    assert findings.summary() == f"{kind}:1"


def test_an_azure_key_is_masked_only_where_a_connection_string_labels_it():
    findings = dlp.Findings()
    masked = dlp.mask_text(f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={AZURE_KEY};", findings)
    assert masked == "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=[redacted:azure_key];"
    assert dlp.mask_text(f"digest {AZURE_KEY}", dlp.Findings()) == f"digest {AZURE_KEY}"


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112",  # 16 digits, Luhn fails
        "order id 1234567890123456",  # Luhn fails
        "id 7992739871300001",  # Luhn-valid, but no card network starts with 7
        "run 41111111111111110000000",  # 25 digits: no card is that long
        "IBAN DE89 3704 0044 0532 0130 01",  # the check digits do not fit
        "GB00NWBK60161331926819",
        "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxIn0.abc",  # header JSON without "alg"
        "eyJhbGciOiJIUzI1NiJ9",  # one segment
        "AKIAIOSFODNN7EXAMPL",  # 19 characters
        "not-an-email@localhost and a @ sign",
        "2026-12-07T01:02:03Z +1 555-123-4567",
    ],
)
def test_look_alikes_are_left_alone(text):
    findings = dlp.Findings()
    assert dlp.mask_text(text, findings) == text
    assert findings.summary() is None


def test_a_json_value_is_masked_in_keys_strings_and_card_numbers_held_as_integers():
    value = {"owner": "ann@example.com", "ann@example.com": 1, "pan": 4111111111111111, "qty": 4111111111111112}
    findings = dlp.Findings()
    masked = dlp.mask_value(value, json.dumps(value), findings)
    assert masked == {
        "owner": "[redacted:email]",
        "[redacted:email]": 1,
        "pan": "[redacted:card]",
        "qty": 4111111111111112,
    }
    assert findings.summary() == "email:2,card:1"


def test_a_clean_value_is_returned_as_is_without_a_walk():
    value = {"items": [{"id": i, "name": f"item {i}"} for i in range(3)]}
    assert dlp.mask_value(value, json.dumps(value), dlp.Findings()) is value


def test_the_summary_lists_classes_in_a_fixed_order():
    findings = dlp.Findings()
    dlp.mask_text(f"GB29NWBK60161331926819 {JWT} x@example.org y@example.org", findings)
    assert findings.summary() == "email:2,jwt:1,iban:1"
    assert findings.as_dict() == {"email": 2, "jwt": 1, "iban": 1}
