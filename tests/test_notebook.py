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
