"""The notebook's prose. The notebook itself runs once per test run, alone in an empty folder, under
strict nbval: scripts/test.sh copies it there, runs it, and checks it wrote nothing outside that folder."""

import re

import nbformat

from conftest import REPO

NOTEBOOK = REPO / "notebooks" / "mnist_sum.ipynb"


def test_every_picture_in_the_prose_has_an_address_that_works_outside_the_repository():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        for address in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", cell.source) if cell.cell_type == "markdown" else []:
            assert address.startswith("https://"), address


def test_the_committed_notebook_is_the_one_its_source_script_writes():
    """A cell edited in the notebook but not in scripts/notebook_source.py would be lost at the next run."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("notebook_source", REPO / "scripts" / "notebook_source.py")
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    committed = nbformat.read(NOTEBOOK, as_version=4).cells
    assert [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in committed] == \
           [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in source.CELLS]


def test_the_reader_sees_no_test_markers_and_no_paths_of_the_machine_that_ran_it():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for index, cell in enumerate(notebook.cells):
        assert "NBVAL" not in cell.source, index  # nbval reads cell tags instead
        for output in cell.get("outputs", []):
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            for leak in ("/work/", "/home/", "/tmp/", "/content/", "site-packages"):
                assert leak not in text, (index, leak, text[:200])
