"""The architecture holds: layers import only downwards, the layers above the model use its
public API, and no module imports itself back through others (no import cycle)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    """The contracts in pyproject.toml ([tool.importlinter]), checked by import-linter."""
    lint = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_no_import_cycle_between_modules():
    graph = grimp.build_graph("sn_sim", cache_dir=None)
    g = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            # A package's __init__ re-exporting its own modules is not a cycle of concerns.
            if imported.startswith(module + ".") or module == "sn_sim":
                continue
            g.add_edge(module, imported)
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import cycles: {cycles[:5]}"
