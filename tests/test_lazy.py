"""The layer packages load their public names on first use (sn_sim/lazy.py): building the CLI's
parser does not import the model's or the optimisers' libraries, and a function that shares its
module's name (``sn_sim.experiment.compare``, ``sn_sim.calibration.calibrate``) stays the
package attribute however the module is imported. Each check runs in a fresh interpreter, since
this one has imported everything already."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _fresh(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_building_the_parser_leaves_the_heavy_libraries_unloaded():
    out = _fresh("""
        import sys
        from sn_sim.cli import build_parser
        build_parser()
        print(sorted(m for m in ("mesa", "scipy.optimize", "SALib", "optuna", "ema_workbench", "sn_sim.model")
                     if m in sys.modules))
    """)
    assert out == "[]"


def test_functions_named_like_their_modules_stay_the_package_attributes():
    out = _fresh("""
        import types
        import sn_sim.experiment.compare          # the submodule first: Python binds it on the package
        from sn_sim.experiment.compare import load_comparison
        import sn_sim.calibration.calibrate
        import sn_sim.experiment as experiment
        import sn_sim.calibration as calibration
        from sn_sim.experiment import compare, sensitivity
        from sn_sim.calibration import calibrate
        values = (experiment.compare, compare, sensitivity, calibration.calibrate, calibrate)
        print(all(isinstance(v, types.FunctionType) for v in values), compare.__module__,
              calibrate.__module__, callable(load_comparison))
    """)
    assert out == "True sn_sim.experiment.compare sn_sim.calibration.calibrate True"


def test_an_unknown_name_is_an_attribute_error():
    out = _fresh("""
        import sn_sim.experiment as experiment
        try:
            experiment.no_such_name
        except AttributeError as exc:
            print(exc)
    """)
    assert out == "module 'sn_sim.experiment' has no attribute 'no_such_name'"
