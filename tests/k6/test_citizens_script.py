"""k6/citizens.js names the citizens' realm, client and load citizens of kepctl/eidas_realms.py by hand (k6 runs
JavaScript): they must stay the same. With k6 built (`./dev k6`), the script must also parse."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from kepctl.eidas_realms import (
    CITIZEN_CLIENT,
    CITIZENS_REALM,
    IDP_ALIAS,
    LOAD_CITIZENS,
    NODE_PASSWORD,
    NODE_REALM,
)
from kepctl.realm import LOCAL_APP_URLS
from kepctl.stack import ROOT

SCRIPT = ROOT / "k6" / "citizens.js"


def _const(text: str, name: str) -> str:
    found = re.search(rf"^const {name} = (.+?);", text, re.MULTILINE)
    assert found, name
    return found.group(1)


def test_the_script_names_the_realms_client_and_load_citizens_of_the_module() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    assert f"/realms/{CITIZENS_REALM}`" in _const(text, "CITIZENS")
    assert f"/realms/{NODE_REALM}`" in _const(text, "NODE")
    assert _const(text, "CLIENT") == f"'{CITIZEN_CLIENT}'"
    assert f"kc_idp_hint: '{IDP_ALIAS}'" in text
    assert f"|| '{NODE_PASSWORD}'" in _const(text, "NODE_PASSWORD")
    assert f"|| {len(LOAD_CITIZENS)})" in _const(text, "LOAD_CITIZENS")
    # `load-%03d` by VU, 1 to len(LOAD_CITIZENS)
    assert "`load-${String(((vu - 1) % LOAD_CITIZENS) + 1).padStart(3, '0')}`" in text
    assert [c.username for c in LOAD_CITIZENS] == [f"load-{i:03d}" for i in range(1, len(LOAD_CITIZENS) + 1)]
    redirect = re.search(r"'(http://[^']+/eugo/callback)'", _const(text, "REDIRECT"))
    assert redirect
    assert any(redirect.group(1).startswith(url + "/") for url in LOCAL_APP_URLS)


def test_the_script_parses() -> None:
    k6 = ROOT / ".state" / "bin" / "k6"
    if not k6.exists() and shutil.which("k6") is None:
        pytest.skip("k6 is not built (./dev k6 builds it)")
    binary = str(k6) if k6.exists() else "k6"
    done = subprocess.run([binary, "inspect", str(SCRIPT)], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
