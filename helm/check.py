#!/usr/bin/env python3
"""Checks the Hookline chart with the real Helm engine and the Kubernetes schemas, no `helm` binary needed.

For the default values and a production-like values file it: validates the values against
values.schema.json, lints the chart (strict), renders it, validates every manifest against the
Kubernetes API schemas, and checks the properties the chart promises (probes, non-root pods, grace
periods, hooks). It also checks that bad values are refused. Exits non-zero on any failure.
"""

import sys
import tomllib
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

CHART = Path(__file__).resolve().parent / "hookline"
# The binaries' built-in defaults: every key the services read.
DEFAULTS = tomllib.loads((CHART.parent.parent / "deploy" / "hookline.toml").read_text())
KUBERNETES = "1.30.0"
# Custom resources: the Kubernetes schemas do not cover them, so only their shape is checked here.
CUSTOM = {"monitoring.coreos.com/v1", "keda.sh/v1alpha1"}

failures = []


def fail(what):
    failures.append(what)
    print(f"  FAIL {what}")


def rendered_objects(values):
    chart = helm.Chart.load(CHART)
    chart.validate_schema(values)
    manifests = chart.render(values, name="hookline", namespace="hookline", is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append((path, doc))
    return objects


def check_values_file(name):
    values = helm.values_from_yaml((CHART / "ci" / name).read_text())
    print(f"{name}:")
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBERNETES}")
    for message in report.get("messages", []):
        if message.get("severity", 0) >= 2:
            fail(f"lint: {message}")
    for error in report.get("errors", []) or []:
        fail(f"lint: {error}")
    objects = rendered_objects(values)
    kinds = {}
    for path, obj in objects:
        kind = obj.get("kind")
        kinds[kind] = kinds.get(kind, 0) + 1
        if obj.get("apiVersion") in CUSTOM:
            if not obj.get("spec"):
                fail(f"{path}: {kind} has no spec")
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            fail(f"{path}: {kind} {obj['metadata'].get('name')}: {error.message} at {list(error.path)}")
        check_promises(path, obj, values)
    print(f"  rendered {len(objects)} objects: {dict(sorted(kinds.items()))}")
    services = 4 if (values.get("console") or {}).get("enabled") else 3
    for kind, count in [("Deployment", services), ("Service", services),
                        ("PodDisruptionBudget", services), ("Job", 1)]:
        if kinds.get(kind) != count:
            fail(f"expected {count} {kind}, rendered {kinds.get(kind, 0)}")
    return kinds


def unknown_keys(config, defaults, prefix=""):
    """Keys of `config` the services would not read (they exist nowhere in the defaults)."""
    for key, value in config.items():
        if key not in defaults:
            yield f"{prefix}{key}"
        elif isinstance(value, dict):
            yield from unknown_keys(value, defaults[key], f"{prefix}{key}.")


def check_promises(path, obj, values):
    kind = obj["kind"]
    if kind == "ConfigMap":
        config = tomllib.loads(obj["data"]["hookline.toml"])
        for key in unknown_keys(config, DEFAULTS):
            fail(f"{path}: hookline.toml sets `{key}`, which the services do not read")
    if kind not in ("Deployment", "Job"):
        return
    pod = obj["spec"]["template"]["spec"]
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        fail(f"{path}: pods must run as non-root")
    for container in pod["containers"]:
        security = container.get("securityContext", {})
        if security.get("allowPrivilegeEscalation") is not False:
            fail(f"{path}: {container['name']} may escalate privileges")
        if kind == "Deployment":
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe not in container:
                    fail(f"{path}: {container['name']} has no {probe}")
            if container["readinessProbe"]["httpGet"]["path"] != "/readyz":
                fail(f"{path}: readiness must use /readyz")
    if kind == "Deployment" and obj["metadata"]["name"].endswith("-console"):
        # The console is a client of the registry: it is given no broker, database or master key.
        for container in pod["containers"]:
            names = {e["name"] for e in container.get("env", [])}
            leaked = names & {"HOOKLINE__AMQP__URL", "HOOKLINE__DATABASE__URL", "HOOKLINE__SECRETS__MASTER_KEYS"}
            if leaked:
                fail(f"{path}: the console is given {sorted(leaked)}")
    if kind == "Deployment":
        # Traces are exported exactly when the values name a collector.
        endpoint = (values.get("tracing") or {}).get("otlpEndpoint", "")
        for container in pod["containers"]:
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "") != endpoint:
                fail(f"{path}: {container['name']} exports traces to "
                     f"{env.get('OTEL_EXPORTER_OTLP_ENDPOINT')!r}, values say {endpoint!r}")
        grace = (values.get("config") or {}).get("shutdownGraceSeconds", 30)
        if pod.get("terminationGracePeriodSeconds", 0) <= grace:
            fail(f"{path}: terminationGracePeriodSeconds must exceed the service's grace ({grace}s)")
    if kind == "Job" and "pre-install" not in obj["metadata"].get("annotations", {}).get("helm.sh/hook", ""):
        fail(f"{path}: the migration job must be a pre-install/pre-upgrade hook")


def check_refusals():
    print("bad values:")
    base = helm.values_from_yaml((CHART / "ci" / "default-values.yaml").read_text())
    for bad in [
        {"config": {"logFormat": "xml"}},
        {"config": {"retrySchedule": ["soon"]}},
        {"delivery": {"replicas": -1}},
        {"unknownKey": True},
        {"tracing": {"otlpEndpoint": "collector:4317"}},
        {"tracing": {"samplerArg": "2"}},
        {"console": {"brandColour": "red; x: y"}},
        {"console": {"frameAncestors": ["https://a.example.com; script-src *"]}},
        {"console": {"enabled": True}},
    ]:
        try:
            rendered_objects({**base, **bad})
        except helm.HelmError:
            print(f"  refused {bad}")
        else:
            fail(f"values {bad} were accepted")
    try:
        rendered_objects({})
    except helm.HelmError:
        print("  refused values without secrets")
    else:
        fail("values without secrets were accepted")


def main():
    print(f"Helm SDK {helm.helm_sdk_version()}, Kubernetes schemas {KUBERNETES}")
    default = check_values_file("default-values.yaml")
    production = check_values_file("production-values.yaml")
    if "HorizontalPodAutoscaler" not in default:
        fail("the default values should scale workers with an HPA")
    if "ScaledObject" not in production or "ServiceMonitor" not in production:
        fail("the production values should render a KEDA ScaledObject and a ServiceMonitor")
    if "Ingress" in default or "Ingress" not in production:
        fail("the console's Ingress is off by default and on in the production values")
    check_refusals()
    if failures:
        print(f"{len(failures)} failed")
        return 1
    print("chart checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
