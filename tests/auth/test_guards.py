"""Request guards on every route: deep JSON refused before parsing, control characters in path
parameters refused with 400 (holes 9 and 15), and IDNA 2008 domain names (hole 15)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from msp.auth.guards import json_too_deep
from msp.domains.service import normalise_fqdn
from msp.errors import ValidationFailed
from tests.factories import make_domain, make_tenant, token_caller


def test_five_thousand_deep_json_is_refused_with_400(client: FlaskClient) -> None:
    admin = token_caller("msp_admin")
    for body in ("[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000):
        r = client.post(
            "/api/v1/tenants",
            data=body,
            headers={**admin.headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 400, r.get_data(as_text=True)[:300]
        assert r.mimetype == "application/problem+json"


def test_depth_check_ignores_brackets_in_strings_and_wide_documents() -> None:
    assert not json_too_deep(b'{"slug": "' + b"[" * 10000 + b'"}')
    assert not json_too_deep(b"[" + b'[1, {"a": [2]}],' * 20000 + b"[]]")
    assert not json_too_deep(b'{"a": "\\"[[[[[[["}' * 3)
    assert json_too_deep(b"[" * 200 + b"]" * 200)
    assert json_too_deep(b'{"k":' * 100 + b"0" + b"}" * 100)


def test_ordinary_nesting_still_works(client: FlaskClient) -> None:
    admin = token_caller("msp_admin")
    r = client.post("/api/v1/tenants", json={"slug": "nested-ok"}, headers=admin.headers)
    assert r.status_code == 201


@pytest.mark.parametrize("raw", ["%00", "a%00b", "%01", "x%1fy", "%7f"])
def test_control_characters_in_path_parameters_are_refused(client: FlaskClient, raw: str) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    admin = token_caller("msp_admin")
    r = client.put(
        f"/api/v1/domains/{domain.id}/senders/{raw}",
        json={"verdict": "approved"},
        headers=admin.headers,
    )
    assert r.status_code == 400, r.get_data(as_text=True)
    assert client.get(f"/assets/{raw}").status_code == 400
    assert client.get(f"/api/v1/tenants/{raw}", headers=admin.headers).status_code == 400


def test_idna_2008_keeps_sharp_s_and_maps_case() -> None:
    assert normalise_fqdn("straße.test") == "xn--strae-oqa.test"
    assert normalise_fqdn("Bücher.Example.") == "xn--bcher-kva.example"
    assert normalise_fqdn(
        "\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com"
    )  # full-width == "example.com"
    for bad in ("a..b", "-bad.example", "under_score.example", "x\x00y.example"):
        with pytest.raises(ValidationFailed):
            normalise_fqdn(bad)


def test_idna_2008_through_the_api(client: FlaskClient) -> None:
    admin = token_caller("msp_admin")
    tenant = make_tenant()
    r = client.post(
        f"/api/v1/tenants/{tenant.id}/domains", json={"name": "straße.test"}, headers=admin.headers
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["name"] == "xn--strae-oqa.test"
