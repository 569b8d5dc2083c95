"""Copy the markdown cells of scripts/notebook_source.py into the executed notebook, keeping its outputs.

    python scripts/sync_markdown.py

For a change of prose only: the code cells must be unchanged, so the outputs still belong to them.
"""

import nbformat
import notebook_source
from notebook_source import NOTEBOOK

notebook = nbformat.read(NOTEBOOK, as_version=4)
if len(notebook_source.CELLS) != len(notebook.cells):
    raise SystemExit("sync_markdown.py: the cells differ in number; run the notebook again instead")
changed = 0
for new, old in zip(notebook_source.CELLS, notebook.cells):
    if new.cell_type != old.cell_type or (new.cell_type == "code" and new.source != old.source):
        raise SystemExit("sync_markdown.py: a code cell changed; run the notebook again instead")
    if new.source != old.source:
        old.source = new.source
        changed += 1
nbformat.write(notebook, NOTEBOOK)
print(f"{changed} markdown cell(s) updated in {NOTEBOOK}")
