"""The hashed locks: every pin satisfies pyproject.toml, the dev lock runs the image's versions, and the image and
./dev install from them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def pins(lock: Path) -> dict[str, tuple[Version, list[str]]]:
    """name -> (version, hashes) of every requirement in a `uv pip compile --generate-hashes` file."""
    found: dict[str, tuple[Version, list[str]]] = {}
    name = ""
    for line in lock.read_text(encoding="utf-8").splitlines():
        if m := PIN.match(line):
            name = canonicalize_name(m[1])
            assert name not in found, f"{lock.name}: {name} twice"
            found[name] = (Version(m[2]), [])
        elif line.strip().startswith("--hash="):
            found[name][1].append(line.strip().removeprefix("--hash=").rstrip(" \\"))
        else:
            assert not line or line.lstrip().startswith("#"), f"{lock.name}: not a pin, hash or comment: {line!r}"
    return found


def requirements(*extras: str) -> list[Requirement]:
    """pyproject's dependencies plus those of the extras, with `kep-backoffice[x]` self-references expanded."""
    todo = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        todo += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    out: list[Requirement] = []
    for req in todo:
        if canonicalize_name(req.name) == canonicalize_name(PROJECT["name"]):
            out += requirements(*req.extras)
        else:
            out.append(req)
    return out


@pytest.mark.parametrize(("lock", "extras"), [(RUNTIME_LOCK, ()), (DEV_LOCK, tuple(PROJECT["optional-dependencies"]))])
def test_every_requirement_is_pinned_within_its_range_and_hashed(lock: Path, extras: tuple[str, ...]) -> None:
    locked = pins(lock)
    for req in requirements(*extras):
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is not in {lock.name}: run ./dev lock"
        assert req.specifier.contains(locked[name][0], prereleases=True), f"{lock.name} pins {name} {locked[name][0]}"
    for name, (_, hashes) in locked.items():
        assert hashes, f"{lock.name}: {name} has no hashes"
        assert all(h.startswith("sha256:") for h in hashes), f"{lock.name}: {name}"


def test_the_dev_lock_runs_the_images_versions() -> None:
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    assert {n: v for n, (v, _) in runtime.items()} == {n: dev[n][0] for n in runtime if n in dev}
    assert set(runtime) <= set(dev)


def test_optional_and_dropped_packages_stay_out_of_the_image() -> None:
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    assert "playwright" in runtime  # documents: Chromium driven by Playwright (actors/documents)
    assert {"matplotlib", "pytest", "mypy", "uv"} <= set(dev)
    assert not {"matplotlib", "pytest", "mypy", "uv"} & set(runtime)


def test_the_image_and_dev_install_from_the_locks() -> None:
    dockerfile = (ROOT / "deployments/docker/Dockerfile").read_text(encoding="utf-8")
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    assert "!requirements.lock" in (ROOT / "deployments/docker/Dockerfile.dockerignore").read_text(encoding="utf-8")
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    assert 'pip install -q --require-hashes -r "$ROOT/$DEV_LOCK"' in dev
    assert "DEV_LOCK=requirements-dev.lock" in dev
