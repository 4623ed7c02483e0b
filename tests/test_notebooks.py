"""The example notebooks in docs/notebooks/ run top to bottom, as a reader would run them.

Each notebook is executed with nbclient (the Jupyter project's notebook runner, which nbmake and
nbconvert use underneath; a plain test keeps it in the suite's `pytest -q` and lets us pin the
kernel) in a kernel of *this* interpreter: the kernelspec is written into the test's temporary
directory from ipykernel, so a `python3` kernelspec elsewhere (a user's, a system Jupyter's)
cannot run the notebooks with another Python. A cell that raises fails the test. The stored
notebooks carry no outputs, and running them writes nothing into the repository.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "docs" / "notebooks"
NAMES = ["compare_mixes.ipynb", "sweep_discover_optimise.ipynb"]
KERNEL = "sn-sim-test"
CELL_TIMEOUT = 300  # seconds; a cell takes a few seconds at the notebooks' scale


def _kernel_manager(tmp_path: Path):
    """A kernel manager that starts ipykernel with sys.executable, whatever else is installed."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kernels = tmp_path / "kernels"
    write_kernel_spec(kernels / KERNEL)  # argv: [sys.executable, "-m", "ipykernel_launcher", ...]
    specs = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name}: no code cell"
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{name}: cells {dirty} keep outputs; clear them before committing"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch, request):
    # The kernel inherits these: its connection file and IPython's profile (startup files,
    # history) live in the test's directory, not in a home directory CI may not have.
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # The notebooks write into a temporary directory of their own (tempfile.mkdtemp): here, one
    # this test makes and removes. Not inside tmp_path: under pytest-xdist that path is long, and
    # the process pool's forkserver puts its socket in TMPDIR (AF_UNIX paths hold 107 bytes).
    temp = Path(tempfile.mkdtemp(prefix="sn-nb-"))
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    monkeypatch.setenv("TMPDIR", str(temp))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # A first cell, added to the copy that runs: which Python, in which environment, the kernel is
    # (the prefix tells two virtual environments of the same base interpreter apart).
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.executable); print(sys.prefix)"))
    before = _tree(NOTEBOOKS.parent)
    work = tmp_path / "cwd"
    work.mkdir()
    client = nbclient.NotebookClient(nb, km=_kernel_manager(tmp_path), timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError (with the traceback) if any cell raises

    kernel = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip().splitlines()
    assert kernel == [sys.executable, sys.prefix]
    for cell in nb.cells:
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        assert not errors, f"{name}: {errors}"
    # The figures are drawn inline, as a reader sees them.
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 3, f"{name}: {images} figures shown"
    assert _tree(NOTEBOOKS.parent) == before, "the notebook wrote into docs/"
    assert not any(work.iterdir()), "the notebook wrote into its working directory (not its temporary one)"
    assert any(temp.glob("sn_sim-*")), "the notebook's outputs are not in its temporary directory"
