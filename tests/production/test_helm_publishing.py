"""The chart's publishing parts: the MSP_PUBLISH_* / MSP_HOSTED_* settings (the provider
options in the Secret), read back by the app's own config loader, and the MTA-STS Ingress of
delegated clients' ``mta-sts.<domain>`` hosts with cert-manager certificates; contradictory
values are refused with a message."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.production.support import REPO
from tests.production.test_chart import PRODUCTION_VALUES, by_kind, manifests, render

HOSTS = ["mta-sts.client-one.example", "mta-sts.client-two.example"]


@pytest.fixture(scope="module")
def helm() -> Path:
    subprocess.run(
        [str(REPO / "scripts" / "get-helm.sh")], check=True, capture_output=True, timeout=300
    )
    return REPO / ".tools" / "bin" / "helm"


def _decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_the_mta_sts_hosts_get_an_ingress_with_one_certificate_each(helm: Path) -> None:
    from msp.publishing.mta_sts import PATH, PREFIX

    items = manifests(helm, "-f", str(PRODUCTION_VALUES))
    ingress = by_kind(items, "Ingress")["rel-msp-mta-sts"]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert ingress["metadata"]["labels"]["app.kubernetes.io/component"] == "web"
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"  # from ingress.className
    assert spec["tls"] == [
        {"secretName": "rel-msp-mta-sts-client-one-example-tls", "hosts": [HOSTS[0]]},
        {"secretName": "rel-msp-mta-sts-client-two-example-tls", "hosts": [HOSTS[1]]},
    ]
    assert [rule["host"] for rule in spec["rules"]] == HOSTS
    for rule in spec["rules"]:
        assert rule["host"].startswith(PREFIX)  # the app answers these by Host header
        (path,) = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == (PATH, "Exact")  # only the policy file
        assert path["backend"]["service"] == {"name": "rel-msp-web", "port": {"name": "http"}}
    web = by_kind(items, "Service")["rel-msp-web"]
    assert [p["name"] for p in web["spec"]["ports"]] == ["http"]


def test_publishing_settings_reach_the_app_and_the_provider_options_stay_in_the_secret(
    helm: Path,
) -> None:
    from msp.config import load_config
    from msp.publishing.providers import get_provider
    from msp.publishing.settings import publish_settings

    items = manifests(helm, "-f", str(PRODUCTION_VALUES))
    config = by_kind(items, "ConfigMap")["rel-msp-config"]["data"]
    secret = _decoded(by_kind(items, "Secret")["rel-msp"])
    assert "MSP_HOSTED_PROVIDER_OPTIONS" not in config
    assert not any(k.startswith("MSP_PUBLISH_") or k.startswith("MSP_HOSTED_Z") for k in secret)
    environ = {**config, **secret}
    parsed = publish_settings({f"MSP_{k}": v for k, v in load_config(environ).items()})
    assert parsed.retry_seconds == (60, 300, 1800, 7200)
    assert (parsed.timeout, parsed.ttl) == (10.0, 3600)
    assert (parsed.hosted_zone, parsed.hosted_kind) == ("records.msp.example", "rfc2136")
    assert parsed.hosted_options["server"] == "192.0.2.53"
    plain, secrets = get_provider("rfc2136").split(dict(parsed.hosted_options))
    assert set(secrets) == {"tsig_secret"} and plain["tsig_name"] == "msp-records"
    # the migration hook reads copies with the same data
    hook = by_kind(items, "ConfigMap")["rel-msp-migrations"]["data"]
    assert {k: v for k, v in hook.items() if k.startswith(("MSP_PUBLISH_", "MSP_HOSTED_"))} == {
        k: v for k, v in config.items() if k.startswith(("MSP_PUBLISH_", "MSP_HOSTED_"))
    }
    assert _decoded(by_kind(items, "Secret")["rel-msp-migrations"]) == secret


def test_the_default_render_has_the_publish_settings_and_no_hosted_zone_or_ingress(
    helm: Path,
) -> None:
    items = manifests(helm)
    config = by_kind(items, "ConfigMap")["rel-msp-config"]["data"]
    assert config["MSP_PUBLISH_RETRY_SECONDS"] == "60,300,1800,7200"
    assert (config["MSP_PUBLISH_TIMEOUT"], config["MSP_PUBLISH_TTL"]) == ("10", "3600")
    assert not any(k.startswith("MSP_HOSTED_") for k in config)
    assert "MSP_HOSTED_PROVIDER_OPTIONS" not in by_kind(items, "Secret")["rel-msp"]["data"]
    assert by_kind(items, "Ingress") == {}


def test_changing_a_publish_setting_rolls_the_pods(helm: Path) -> None:
    def checksum(*args: str) -> str:
        web = by_kind(manifests(helm, "--set", "secrets.secretKey=k", *args), "Deployment")
        annotations = web["rel-msp-web"]["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["checksum/config"])

    assert checksum() != checksum("--set", "publishing.ttl=600")


HOSTED = [
    "--set",
    "publishing.hosted.zone=records.msp.example",
    "--set",
    "publishing.hosted.providerKind=rfc2136",
    "--set",
    "publishing.hosted.providerOptions.server=192.0.2.53",
]
MTA_STS = ["--set", "mtaSts.enabled=true", "--set", "mtaSts.hosts={mta-sts.client.example}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*HOSTED, *MTA_STS], "set mtaSts.certManager.clusterIssuer or"),
        (
            [
                *HOSTED,
                *MTA_STS,
                "--set",
                "mtaSts.certManager.clusterIssuer=a",
                "--set",
                "mtaSts.certManager.issuer=b",
            ],
            "set clusterIssuer or issuer, not both",
        ),
        (
            [*MTA_STS, "--set", "mtaSts.certManager.issuer=a"],
            "policies are served for delegated domains only: set publishing.hosted.zone",
        ),
        (
            [*HOSTED, "--set", "mtaSts.enabled=true", "--set", "mtaSts.certManager.issuer=a"],
            "list the hosts (mta-sts.<client domain>) in mtaSts.hosts",
        ),
        (["--set", "publishing.hosted.zone=records.msp.example"], "providerKind (rfc2136"),
        (
            [
                "--set",
                "publishing.hosted.zone=r.example",
                "--set",
                "publishing.hosted.providerKind=rfc2136",
            ],
            "give its provider's options in publishing.hosted.providerOptions",
        ),
        (
            [*HOSTED, "--set", "secrets.existingSecret=mine"],
            "put MSP_HOSTED_PROVIDER_OPTIONS in that Secret",
        ),
        (
            ["--set", "config.MSP_HOSTED_ZONE=records.msp.example"],
            "MSP_HOSTED_ZONE is set through the publishing values",
        ),
        (
            ["--set", "secrets.extra.MSP_HOSTED_PROVIDER_OPTIONS=x"],
            "MSP_HOSTED_PROVIDER_OPTIONS is set through the publishing values",
        ),
        (["--set", "publishing.hosted.providerKind=route53"], "providerKind"),
        ([*MTA_STS[:2], "--set", "mtaSts.hosts={client.example}"], "/mtaSts/hosts/0"),
    ],
)
def test_contradictory_publishing_values_are_refused_with_a_message(
    helm: Path, args: list[str], message: str
) -> None:
    done = render(helm, *args)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_an_existing_secret_may_hold_the_hosted_options(helm: Path) -> None:
    items = manifests(helm, "--set", "secrets.existingSecret=mine", *HOSTED[:4])
    config = by_kind(items, "ConfigMap")["rel-msp-config"]["data"]
    assert config["MSP_HOSTED_ZONE"] == "records.msp.example"
    assert json.dumps(config).count("192.0.2.53") == 0
