"""What an installer sees: extras named on ImportError, a plugin that never breaks
pytest, and an sdist that carries its own tests and metadata.

A clean venv with ``pip install .`` (no extras) running an unrelated test needs the
package index, so .ci/run checks that outside the jail; here the missing extras
are simulated by blocking their modules (``sys.modules[name] = None``).
"""

from __future__ import annotations

import email
import shutil
import site
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python(code: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def _pytest_without(blocked: str, tests: Path) -> subprocess.CompletedProcess[str]:
    code = (f"import sys; sys.modules[{blocked!r}] = None; import pytest; "
            "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', sys.argv[1]]))")
    return python(code, str(tests), cwd=tests)


def test_without_dnslib_an_unrelated_test_suite_runs(tmp_path: Path) -> None:
    (tmp_path / "test_other.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    proc = _pytest_without("dnslib", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    assert "dnslib" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("fixture", ["dns_server", "threaded_dns_server"])
def test_without_dnslib_a_fixture_names_the_extra(tmp_path: Path, fixture: str) -> None:
    (tmp_path / "test_dns.py").write_text(
        "import pytest\n\n"
        f"@pytest.mark.asyncio\nasync def test_uses_it({fixture}):\n    pass\n\n"
        "def test_unrelated():\n    pass\n")
    proc = _pytest_without("dnslib", tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout  # the rest of the suite is unharmed
    assert 'pip install "asyncdns-connect[testing]"' in proc.stdout
    assert "Traceback" not in proc.stdout


def test_without_dnslib_importing_the_test_server_names_the_extra() -> None:
    proc = python("import sys; sys.modules['dnslib'] = None\n"
                  "from asyncdns_connect.testing import DNSServer")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "ImportError: asyncdns_connect.testing needs dnslib, which comes with the testing "
        'extra: pip install "asyncdns-connect[testing]"')


@pytest.mark.parametrize(("adapter", "blocked"), [
    ("aiohttp", "aiohttp"), ("httpx", "httpx"), ("httpx", "anyio"),
])
def test_an_adapter_without_its_extra_names_it(adapter: str, blocked: str) -> None:
    proc = python(f"import sys; sys.modules[{blocked!r}] = None\n"
                  f"import asyncdns_connect.{adapter}")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ")
    assert blocked in last
    assert last.endswith(f'pip install "asyncdns-connect[{adapter}]"')


# -- the sdist ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout's files (committed or not, as git lists them)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path_factory.mktemp("src")
    for name in listed:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    return src


@pytest.fixture(scope="module")
def sdist(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = source
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the jail has no package index; the [test] extra has setuptools.
    proc = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
                           "--outdir", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [archive] = out.glob("*.tar.gz")
    return archive


def test_sdist_carries_license_metadata_and_test_helpers(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        pkg_info = tar.extractfile(next(n for n in tar.getnames()
                                        if n.count("/") == 1 and n.endswith("/PKG-INFO")))
        assert pkg_info is not None
        meta = email.message_from_bytes(pkg_info.read())
    for needed in ("LICENSE", "README.md", "tests/_servers.py", "tests/_resolving.py",
                   "tests/_knot.py", "examples/_loopback.py", "docs/index.md",
                   "asyncdns_connect/py.typed", "asyncdns_connect/testing/plugin.py"):
        assert needed in names, needed
    assert not any("__pycache__" in n for n in names)
    assert meta["License-Expression"] == "MIT"
    assert any(url.startswith("Source, ") for url in meta.get_all("Project-URL") or [])
    classifiers = meta.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.13" in classifiers
    assert "Typing :: Typed" in classifiers
    assert meta["Requires-Python"] == ">=3.10"


def test_sdist_tests_collect_without_errors(sdist: Path, tmp_path: Path) -> None:
    safe: dict[str, str] = {"filter": "data"} if sys.version_info >= (3, 12) else {}
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, **safe)  # type: ignore[arg-type]
    [tree] = [p for p in tmp_path.iterdir() if p.is_dir()]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=tree, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "error" not in proc.stdout.lower().split("\n")[-2]
    assert int(proc.stdout.strip().splitlines()[-1].split()[0]) > 300  # "N tests collected"


def test_strict_editable_install_is_visible_to_mypy(source: Path, tmp_path: Path) -> None:
    # The documented way (docs/contributing.md): setuptools' default editable
    # install is an import hook mypy cannot follow; strict mode is a plain path.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    vpython = venv / "bin" / "python"
    # This environment's packages (setuptools >= 77 from the [test] extra) behind the
    # new venv's own, so that the build needs no package index.
    vsite = subprocess.run([str(vpython), "-c", "import sysconfig; "
                            "print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    Path(vsite, "_parent.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(vpython), "install", "-q", "--no-deps",
         "--no-build-isolation", "--no-index", "-e", str(source),
         "--config-settings", "editable_mode=strict"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    user = tmp_path / "user"
    user.mkdir()
    (user / "use.py").write_text(
        "from asyncdns_connect import Resolver\n\n"
        "async def first_ttl(resolver: Resolver) -> str:\n"
        "    return (await resolver.resolve('api.test'))[0].ttl\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--python-executable", str(vpython), "use.py"],
        cwd=user, capture_output=True, text=True, timeout=300)
    # mypy found the package and its types: it knows ttl is not a str.
    assert "import-not-found" not in proc.stdout, proc.stdout
    assert 'Incompatible return value type (got "int", expected "str")' in proc.stdout, (
        proc.stdout)
