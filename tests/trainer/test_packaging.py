"""The configs ship inside the wheel, so ``ucms-train`` works from an installed package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.trainer.helpers import REPO


def test_wheel_contains_every_config(tmp_path):
    # build from a copy of the sources, so no build/ or *.egg-info lands in the checkout
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("mec_env", "ucms_marl"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    # without build isolation first (offline, fast); with it if this environment lacks the
    # build backend (e.g. a fresh venv without setuptools/wheel: pip then fetches them)
    for isolation in (["--no-build-isolation"], []):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q",
             "-w", str(tmp_path), str(src)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if proc.returncode == 0:
            break
    else:
        pytest.skip(f"cannot build a wheel here: {proc.stderr[-500:]}")
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"ucms_marl/conf/{p.relative_to(REPO / 'ucms_marl' / 'conf')}"
        for p in (REPO / "ucms_marl" / "conf").rglob("*.yaml")
    }
    assert expected and expected <= names, sorted(expected - names)
    assert "ucms_marl/conf/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert (
        "ucms-train = ucms_marl.train:main" in text
        and "ucms-eval = ucms_marl.evaluate:main" in text
    )

    # install the wheel alone into a fresh directory and train from outside the source tree
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    code = (
        "import sys, ucms_marl; "
        "assert ucms_marl.__file__.startswith(sys.argv[1]), ucms_marl.__file__; "
        "sys.argv = ['ucms-train', 'algo=greedy', 'env=small', 'experiment=smoke', "
        "'progress_bar=false', 'run_root=runs']; from ucms_marl.train import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(site)], cwd=workdir, capture_output=True, text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (workdir / "runs" / "greedy" / "small" / "smoke" / "seed_0" / "summary.json").is_file()
