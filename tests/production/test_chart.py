"""The Helm chart: scripts/check-chart.sh (lint, render with default and production values,
offline Kubernetes schema validation) passes, the rendered objects have the properties the
platform relies on, and contradictory values are refused."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tests.production.support import REPO

CHART = REPO / "helm" / "msp"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> Path:
    subprocess.run(
        [str(REPO / "scripts" / "get-helm.sh")], check=True, capture_output=True, timeout=300
    )
    return REPO / ".tools" / "bin" / "helm"


def _helm_env() -> dict[str, str]:
    tools = REPO / ".tools" / "helm"
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(tools / "cache"),
        "HELM_CONFIG_HOME": str(tools / "config"),
        "HELM_DATA_HOME": str(tools / "data"),
    }


def render(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), "template", "rel", str(CHART), "--namespace", "ns", *args],
        capture_output=True,
        text=True,
        env=_helm_env(),
        timeout=120,
    )


def manifests(helm: Path, *args: str) -> list[Manifest]:
    done = render(helm, *args)
    assert done.returncode == 0, done.stderr
    return [m for m in yaml.safe_load_all(done.stdout) if m]


def by_kind(items: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in items if m["kind"] == kind}


def pod_specs(items: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for m in items:
        if m["kind"] in {"Deployment", "Job"}:
            yield m["metadata"]["name"], m["spec"]["template"]["spec"]


def test_check_chart_script_lints_renders_and_validates_offline() -> None:
    done = subprocess.run(
        [str(REPO / "scripts" / "check-chart.sh")], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok: ") == 4


def test_default_render_has_one_deployment_per_process_and_a_migration_hook(helm: Path) -> None:
    items = manifests(helm)
    deployments = by_kind(items, "Deployment")
    assert set(deployments) == {"rel-msp-web", "rel-msp-worker-default", "rel-msp-scheduler"}
    scheduler = deployments["rel-msp-scheduler"]["spec"]
    assert scheduler["replicas"] == 1 and scheduler["strategy"] == {"type": "Recreate"}
    job = by_kind(items, "Job")["rel-msp-migrations"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] + container["args"] == ["msp", "db", "upgrade", "heads"]
    # The hook reads hook-scoped copies: the release's own Secret does not exist at pre-install.
    hook_secret = by_kind(items, "Secret")["rel-msp-migrations"]
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10"
    assert hook_secret["data"] == by_kind(items, "Secret")["rel-msp"]["data"]
    for m in items:
        assert m["metadata"]["labels"]["app.kubernetes.io/component"], m["metadata"]["name"]


def test_every_pod_runs_non_root_on_a_read_only_root_with_tmp_and_resources(helm: Path) -> None:
    items = manifests(helm, "-f", str(PRODUCTION_VALUES))
    specs = dict(pod_specs(items))
    assert len(specs) == 6  # web, 3 worker groups, scheduler, migrations
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in spec["volumes"], name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert container["image"].startswith("registry.example.com/msp/msp@sha256:")


def test_web_probes_service_ingress_tls_hpa_and_pdb(helm: Path) -> None:
    items = manifests(helm, "-f", str(PRODUCTION_VALUES))
    web = by_kind(items, "Deployment")["rel-msp-web"]
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "replicas" not in web["spec"], "the HPA owns the replica count"
    ingress = by_kind(items, "Ingress")["rel-msp-web"]
    assert ingress["spec"]["tls"] == [
        {"secretName": "dmarc-example-com-tls", "hosts": ["dmarc.example.com"]}
    ]
    assert set(by_kind(items, "HorizontalPodAutoscaler")) == {
        "rel-msp-web",
        "rel-msp-worker-checks",
        "rel-msp-worker-reports",
    }
    assert set(by_kind(items, "PodDisruptionBudget")) == {
        "rel-msp-web",
        "rel-msp-worker-checks",
        "rel-msp-worker-reports",
    }
    service = by_kind(items, "Service")["rel-msp-web"]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "web"


def test_worker_groups_get_their_queues_and_a_grace_period_for_the_current_job(helm: Path) -> None:
    deployments = by_kind(manifests(helm, "-f", str(PRODUCTION_VALUES)), "Deployment")
    reports = deployments["rel-msp-worker-reports"]["spec"]
    assert reports["template"]["spec"]["containers"][0]["args"] == ["worker", "--queues=reports"]
    assert reports["template"]["spec"]["terminationGracePeriodSeconds"] == 600
    assert reports["selector"]["matchLabels"]["msp/worker-group"] == "reports"
    notify = deployments["rel-msp-worker-notify"]["spec"]
    assert notify["template"]["spec"]["containers"][0]["args"] == [
        "worker",
        "--queues=notifications,default",
    ]


def test_a_worker_group_may_fork_a_work_horse_per_job(helm: Path) -> None:
    groups = [
        {"name": "bulk", "queues": ["reports"], "replicas": 1},  # the default: no fork
        {"name": "rest", "queues": ["default"], "replicas": 1, "fork": True},
    ]
    deployments = by_kind(
        manifests(helm, "--set-json", f"workers={json.dumps(groups)}"), "Deployment"
    )
    args = {
        name: spec["spec"]["template"]["spec"]["containers"][0]["args"]
        for name, spec in deployments.items()
    }
    assert args["rel-msp-worker-bulk"] == ["worker", "--queues=reports"]
    assert args["rel-msp-worker-rest"] == ["worker", "--queues=default", "--fork"]


def test_configuration_comes_from_configmap_and_secret_and_existing_secret_is_used(
    helm: Path,
) -> None:
    items = manifests(helm, "-f", str(PRODUCTION_VALUES))
    secret = by_kind(items, "Secret")["rel-msp"]["data"]
    assert base64.b64decode(secret["MSP_DATABASE_URL"]).decode().startswith("postgresql+psycopg")
    assert by_kind(items, "ConfigMap")["rel-msp-config"]["data"]["MSP_LOG_FORMAT"] == "json"

    items = manifests(helm, "--set", "secrets.existingSecret=managed-msp")
    assert "rel-msp" not in by_kind(items, "Secret")
    for name, spec in pod_specs(items):
        env_from = spec["containers"][0]["envFrom"]
        assert {"secretRef": {"name": "managed-msp"}} in env_from, name


def test_generated_keys_are_valid_and_the_same_in_release_and_hook(helm: Path) -> None:
    from cryptography.fernet import Fernet

    secrets = by_kind(manifests(helm), "Secret")
    key = base64.b64decode(secrets["rel-msp"]["data"]["MSP_ENCRYPTION_KEY"])
    Fernet(key)  # raises if it is not a Fernet key
    assert secrets["rel-msp-migrations"]["data"] == secrets["rel-msp"]["data"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "secrets.existingSecret=x", "--set", "secrets.redisUrl=redis://r:6379/0"],
            "leave the inline secrets",
        ),
        (["--set", "secrets.databaseUrl=sqlite:///x.db"], "databaseUrl"),
        (["--set", "config.MSP_DATABASE_URL=postgresql://x"], "is a secret"),
        (
            [
                "--set",
                "workers[0].name=a",
                "--set",
                "workers[0].queues={checks}",
                "--set",
                "workers[0].replicas=1",
                "--set",
                "workers[1].name=a",
                "--set",
                "workers[1].queues={reports}",
                "--set",
                "workers[1].replicas=1",
            ],
            'the name "a" is used twice',
        ),
        (
            [
                "--set",
                "web.autoscaling.enabled=true",
                "--set",
                "web.autoscaling.minReplicas=5",
                "--set",
                "web.autoscaling.maxReplicas=2",
            ],
            "minReplicas is greater than maxReplicas",
        ),
        (["--set", "web.replicas=two"], "want integer"),
        (["--set", "unknownKey=1"], "unknownKey"),
    ],
)
def test_contradictory_values_are_refused_with_a_message(
    helm: Path, args: list[str], message: str
) -> None:
    done = render(helm, *args)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_default_worker_group_serves_every_queue_the_app_enqueues_to() -> None:
    from msp.queues import ALL_QUEUES

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    served = {queue for group in values["workers"] for queue in group["queues"]}
    assert served == set(ALL_QUEUES)


def test_every_command_the_chart_runs_exists_in_the_msp_cli(helm: Path) -> None:
    import click

    from msp.cli import cli

    items = manifests(helm, "-f", str(PRODUCTION_VALUES))
    for name, spec in pod_specs(items):
        container = spec["containers"][0]
        assert container["command"] == ["msp"], name
        args = list(container["args"])
        command: click.Command | None = cli
        while isinstance(command, click.Group) and args and not args[0].startswith("-"):
            command = command.get_command(click.Context(cli), args.pop(0))
        assert command is not None and not isinstance(command, click.Group), name
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for arg in args:
            if arg.startswith("--"):
                assert arg.split("=")[0] in options, (name, arg)


def _container(deployment: Manifest) -> Manifest:
    container: Manifest = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def _msp_command(argv: list[str]) -> click.Command:
    from msp.cli import cli

    assert argv[0] == "msp"
    command: click.Command | None = cli
    args = argv[1:]
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        command = command.get_command(click.Context(cli), args.pop(0))
    assert command is not None and not isinstance(command, click.Group), argv
    return command


def test_workers_and_scheduler_have_an_exec_liveness_probe_on_the_file_they_touch(
    helm: Path,
) -> None:
    deployments = by_kind(manifests(helm, "-f", str(PRODUCTION_VALUES)), "Deployment")
    probed = {name: d for name, d in deployments.items() if name != "rel-msp-web"}
    assert len(probed) == 4  # 3 worker groups and the scheduler
    for name, deployment in probed.items():
        container = _container(deployment)
        max_age = "180" if name == "rel-msp-scheduler" else "300"
        probe = container["livenessProbe"]
        assert probe["exec"]["command"] == [
            "msp",
            "alive",
            "/tmp/msp-alive",
            f"--max-age={max_age}",
        ]
        assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"]) == (
            30,
            10,
            3,
        ), name
        # The process learns the file from the environment; it lies on the /tmp emptyDir.
        assert {"name": "MSP_LIVENESS_FILE", "value": "/tmp/msp-alive"} in container["env"], name
        process = _msp_command(["msp", *container["args"]])
        liveness = [p for p in process.params if "--liveness-file" in getattr(p, "opts", [])]
        assert [getattr(p, "envvar", None) for p in liveness] == ["MSP_LIVENESS_FILE"], name
        alive = _msp_command(probe["exec"]["command"][:2])
        options = {opt for param in alive.params for opt in getattr(param, "opts", [])}
        assert "--max-age" in options


def test_liveness_probe_values_are_used_and_disabling_removes_probe_and_file(
    helm: Path,
) -> None:
    deployments = by_kind(
        manifests(
            helm,
            "--set",
            "workerLivenessProbe.periodSeconds=45",
            "--set",
            "workerLivenessProbe.maxAgeSeconds=600",
            "--set",
            "scheduler.livenessProbe.enabled=false",
        ),
        "Deployment",
    )
    worker = _container(deployments["rel-msp-worker-default"])
    assert worker["livenessProbe"]["periodSeconds"] == 45
    assert worker["livenessProbe"]["exec"]["command"][-1] == "--max-age=600"
    scheduler = _container(deployments["rel-msp-scheduler"])
    assert "livenessProbe" not in scheduler
    assert all(e["name"] != "MSP_LIVENESS_FILE" for e in scheduler["env"])
    web = _container(deployments["rel-msp-web"])
    assert all(e["name"] != "MSP_LIVENESS_FILE" for e in web["env"])


@pytest.mark.parametrize(
    ("key", "minimum"),
    [("workerLivenessProbe.maxAgeSeconds", 120), ("scheduler.livenessProbe.maxAgeSeconds", 90)],
)
def test_a_liveness_max_age_shorter_than_the_quiet_loop_is_refused(
    helm: Path, key: str, minimum: int
) -> None:
    done = render(helm, "--set", f"{key}={minimum - 1}")
    assert done.returncode != 0
    assert f"minimum: got {minimum - 1}, want {minimum}" in done.stderr, done.stderr
