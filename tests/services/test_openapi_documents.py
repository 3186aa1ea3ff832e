"""Reading descriptions: JSON and YAML, YAML's extras made JSON, size and alias-bomb limits, bundle references."""

from __future__ import annotations

import pytest

from janus.services import openapi_documents
from janus.services.openapi_documents import SpecError, bundle_from_texts, parse_text


def test_yaml_response_codes_and_dates_become_json_keys_and_text():
    data = parse_text("responses:\n  200: {description: ok}\ncreated: 2024-01-02\n")
    assert data == {"responses": {"200": {"description": "ok"}}, "created": "2024-01-02"}


def test_yaml_aliases_are_expanded_within_the_limit_and_refused_beyond(monkeypatch):
    assert parse_text("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 9)]
    with pytest.raises(SpecError, match="aliases expand to more than 5,000,000 nodes"):
        parse_text("\n".join(lines))


def test_yaml_tags_that_build_python_objects_are_refused():
    with pytest.raises(SpecError, match="neither valid JSON nor valid YAML"):
        parse_text("a: !!python/object/apply:os.system ['true']\n")


def test_a_description_over_the_size_cap_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(openapi_documents, "MAX_SPEC_BYTES", 1024)
    with pytest.raises(SpecError, match="at most 0 MiB is read"):
        parse_text("{" + " " * 2000 + "}")


def test_a_reference_outside_the_bundle_is_refused_with_its_location():
    bundle = bundle_from_texts({"api.yaml": "openapi: 3.0.0\npaths: {}\n"})
    with pytest.raises(SpecError, match=r"points at 'other\.yaml', which is not in the bundle"):
        bundle.resolve("other.yaml#/X", "api.yaml")
    with pytest.raises(SpecError, match="points at another URL"):
        bundle.resolve("https://evil.test/x.json#/X", "api.yaml")
    with pytest.raises(SpecError, match="points at nothing"):
        bundle.resolve("#/components/schemas/Missing", "api.yaml")


def test_the_main_file_of_a_bundle_is_the_one_with_openapi_at_its_root():
    bundle = bundle_from_texts({"s.yaml": "Pet: {type: object}\n", "dir/api.yaml": "openapi: 3.1.0\npaths: {}\n"})
    assert bundle.main == "dir/api.yaml"
    assert bundle.resolve("../s.yaml#/Pet", "dir/api.yaml") == ({"type": "object"}, "s.yaml")
