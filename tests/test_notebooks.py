"""Every notebook in notebooks/ runs top to bottom (nbclient, this interpreter as the kernel),
and the committed notebooks carry no outputs.

The notebooks share one small scene recipe, so with a shared ROOM_CACHE the scene is prepared
once (by the first notebook). About 2-5 minutes for all four on a 2-core CPU."""

from __future__ import annotations

import json
import os
import sys

import pytest

from room.paths import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "room-test-python"


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_ct_to_scene.ipynb", "02_rendering.ipynb", "03_simulation.ipynb",
            "04_dataset.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
                f"{path.name} has outputs; strip them: python -m room.viz.nbstrip {path}")


@pytest.fixture(scope="session")
def kernel_env(tmp_path_factory):
    """A kernel spec that runs ipykernel in this very interpreter with this checkout on the
    path (independent of which kernels the machine has installed), and a shared scene cache
    so the notebooks prepare their common scene once."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    env = {"PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "ROOM_CACHE": os.environ.get("ROOM_CACHE", str(root / "cache")),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "room test", "language": "python", "env": env}))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(root) + (os.pathsep + old if old else "")
    yield root
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


@pytest.mark.slow
@pytest.mark.gl  # notebooks 02-04 render
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, kernel_env, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=600, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    # every notebook shows pictures
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name} displayed no figure"
