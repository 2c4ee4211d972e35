"""The alerts and the dashboard name only series the application emits (infra/metrics.py CATALOGUE), each with the
suffix its type has in Prometheus, and every alert has its section in the operations page."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.metrics import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deployments" / "k8s" / "monitoring"
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
SERIES = {name + suffix: name for name, spec in CATALOGUE.items() for suffix in SUFFIXES[spec.kind]}
METRIC = re.compile(r"\bkep_[a-z0-9_]+\b")


def _rules() -> list[dict[str, str]]:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def _panel_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "kep-dashboard.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def _names(expr: str) -> set[str]:
    # label values such as the route "/api/cases" never start with kep_; label names are not metric-shaped
    return set(METRIC.findall(expr))


@pytest.mark.parametrize("expr", [r["expr"] for r in _rules()] + _panel_exprs())
def test_every_series_an_alert_or_panel_names_is_one_the_code_emits(expr: str) -> None:
    names = _names(expr)
    assert names, f"no kep_ metric in {expr!r}"
    assert names <= SERIES.keys(), f"not emitted (or without its type's suffix): {sorted(names - SERIES.keys())}"


def test_every_expression_parses_with_prometheus_own_parser(tmp_path: Path) -> None:
    """promql/main.go: Prometheus' PromQL parser, from its module at the version its go.mod pins."""
    go = shutil.which("go")
    assert go is not None, "Go is needed (./dev installs the tools that need it too)"
    exprs = [r["expr"] for r in _rules()] + _panel_exprs()
    checker = tmp_path / "promql"
    env = os.environ | {"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}
    built = subprocess.run(
        [go, "build", "-o", str(checker), "."], cwd=Path(__file__).parent / "promql", env=env, capture_output=True,
        text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    lines = "".join(json.dumps(e) + "\n" for e in exprs)
    parsed = subprocess.run([checker], input=lines, capture_output=True, text=True, timeout=60, check=False)
    assert parsed.returncode == 0, parsed.stdout


def test_the_dashboard_shows_every_metric_of_the_catalogue() -> None:
    shown = {SERIES[n] for expr in _panel_exprs() for n in _names(expr)}
    assert shown == CATALOGUE.keys(), sorted(CATALOGUE.keys() - shown)


def test_every_alert_has_its_section_in_the_operations_page() -> None:
    page = (ROOT / "docs" / "operations.md").read_text()
    headings = set(re.findall(r"^### (Kep\w+)$", page, re.MULTILINE))
    alerts = {r["alert"] for r in _rules()}
    assert alerts <= headings, sorted(alerts - headings)
    for rule in _rules():
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"
