"""aiodns 4.0.4's own test suite, against real aiodns (the control) and against
``asyncdns_connect.aiodns`` standing in for it, on a loopback copy of the internet
names it queries.

The upstream file comes from aiodns's sdist, fetched by ``scripts/fetch-upstream-tests``
(outside the netjail) into ``.cache/upstream/``; it is never part of the repository.
Each run is a subprocess in its own network namespace (``tests/_aiodns_upstream.py``
sets it up); both runs go at once. The tests skipped against us, and why, are listed
in ``_aiodns_upstream.SKIPS``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _aiodns_upstream import SKIPS

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT / ".cache" / "upstream" / "aiodns-4.0.4" / "tests" / "test_aiodns.py"
RUNNER = Path(__file__).resolve().parent / "_aiodns_upstream.py"
RUN_TIMEOUT = 240


@dataclass
class Outcome:
    module: str
    passed: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _function_name(case_name: str) -> str:
    return case_name.split("[", 1)[0]


def _read(workdir: Path) -> Outcome:
    outcome = Outcome((workdir / "aiodns-module.txt").read_text())
    for case in ET.parse(workdir / "junit.xml").iter("testcase"):
        name = f"{case.get('classname', '').rpartition('.')[2]}::{case.get('name')}"
        skipped = case.find("skipped")
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            outcome.failed[name] = (problem.get("message") or "")[:300]
        elif skipped is not None:
            outcome.skipped[name] = skipped.get("message") or ""
        else:
            outcome.passed.add(name)
    return outcome


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    if not UPSTREAM.is_file():
        pytest.fail(f"aiodns 4.0.4's tests are missing at {UPSTREAM}: run "
                    "scripts/fetch-upstream-tests (outside the netjail) first", pytrace=False)
    if os.environ.get("NETJAIL_INSIDE") != "1" or os.geteuid() != 0:
        pytest.skip("needs ../shared/netjail (root, loopback only): the upstream file "
                    "queries public resolver addresses, served here on loopback aliases")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    procs = {}
    for mode in ("control", "ours"):
        workdir = tmp_path_factory.mktemp(mode)
        procs[mode] = (workdir, subprocess.Popen(
            ["unshare", "--net", "--", sys.executable, str(RUNNER), mode, str(UPSTREAM),
             str(workdir)],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    outcomes = {}
    for mode, (workdir, proc) in procs.items():
        try:
            output, _ = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            pytest.fail(f"{mode} run did not finish in {RUN_TIMEOUT}s:\n{output[-3000:]}")
        if not (workdir / "junit.xml").is_file():
            pytest.fail(f"{mode} run wrote no report (exit {proc.returncode}):\n"
                        f"{output[-3000:]}")
        outcomes[mode] = _read(workdir)
    return outcomes


def test_control_real_aiodns_passes_on_the_loopback_zone(runs: dict[str, Outcome]) -> None:
    control = runs["control"]
    name, version, path = control.module.split(" ", 2)
    assert (name, version) == ("aiodns", "4.0.4")
    assert Path(path).is_relative_to(UPSTREAM.parent.parent)  # the sdist's own copy
    assert control.failed == {}
    # The whole file ran: aiodns 4.0.4 has 151 tests here, one skipped off Windows.
    assert len(control.passed) >= 150


def test_every_public_behaviour_test_passes_against_ours(runs: dict[str, Outcome]) -> None:
    ours = runs["ours"]
    assert ours.module.split(" ")[:2] == ["asyncdns_connect.aiodns", "4.0.4"]
    assert ours.failed == {}
    # Everything the control ran and we did not skip on purpose, we passed.
    expected = {n for n in runs["control"].passed
                if _function_name(n.partition("::")[2]) not in SKIPS}
    assert expected <= ours.passed
    assert len(ours.passed) >= 120


def test_only_the_listed_private_attribute_tests_are_skipped(
        runs: dict[str, Outcome]) -> None:
    ours, control = runs["ours"], runs["control"]
    ours_only = {n: why for n, why in ours.skipped.items() if n not in control.skipped}
    assert {_function_name(n.partition("::")[2]) for n in ours_only} == set(SKIPS)
    assert all(why.startswith("asyncdns_connect: ") for why in ours_only.values())
