"""Dependencies point one way: cli -> schedule -> flows -> crews -> steps -> knowledge/vision/models -> base."""

import subprocess
import sys

from tests.fakes import ROOT


def test_no_part_of_the_package_imports_a_layer_above_it():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "module_graph.py")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "steps --> knowledge" in p.stdout and "crews --> steps" in p.stdout  # the graph is read at all
