"""The notebook as Colab runs it: alone in an empty folder, with the package installed, top to bottom."""

import hashlib
import re
import shutil

import nbformat
from nbclient import NotebookClient

from conftest import REPO

NOTEBOOK = REPO / "notebooks" / "mnist_sum.ipynb"


def _snapshot(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def test_every_picture_in_the_prose_has_an_address_that_works_outside_the_repository():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        for address in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", cell.source) if cell.cell_type == "markdown" else []:
            assert address.startswith("https://"), address


def test_the_notebook_alone_in_an_empty_folder_runs_to_the_end_and_writes_only_there(data_dir, tmp_path,
                                                                                       monkeypatch):
    folder = tmp_path / "content"  # Colab's working folder, with no repository around it
    folder.mkdir()
    shutil.copy(NOTEBOOK, folder / "mnist_sum.ipynb")
    repo_before = {name: _snapshot(REPO / name) for name in ("images", "notebooks")}
    monkeypatch.setenv("MNIST_SUM_QUICK", "1")
    monkeypatch.setenv("MNIST_SUM_DATA", str(data_dir))  # read only: the MNIST files are checked, not written

    notebook = nbformat.read(folder / "mnist_sum.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    client.execute()

    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    assert all(cell.execution_count for cell in notebook.cells if cell.cell_type == "code"), "a cell did not run"
    assert {name: _snapshot(REPO / name) for name in ("images", "notebooks")} == repo_before
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert all(name == "mnist_sum.ipynb" or name.startswith("checkpoints/quick/") for name in written), written
