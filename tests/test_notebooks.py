"""Every tutorial notebook runs top to bottom, and its figure cells show their figures."""

import asyncio
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

#: A cell that draws: one of graphfuse's ``*_figure`` functions or a shap plot.
DRAWS = re.compile(r"\b\w+_figure\(|\bshap\.plots\.")
FIGURE_TAG = "figure"


@pytest.fixture(scope="module")
def executed():
    """Every notebook executed, the kernels running side by side (one process each)."""

    async def run_all():
        notebooks = [nbformat.read(p, as_version=4) for p in NOTEBOOKS]
        clients = [
            NotebookClient(
                nb,
                timeout=300,
                kernel_name="python3",
                resources={"metadata": {"path": str(p.parent)}},
            )
            for nb, p in zip(notebooks, NOTEBOOKS, strict=True)
        ]
        await asyncio.gather(*(c.async_execute() for c in clients))
        return dict(zip([p.stem for p in NOTEBOOKS], notebooks, strict=True))

    return asyncio.run(run_all())


def _figure_cells(nb):
    return [c for c in nb.cells if FIGURE_TAG in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, executed):
    nb = executed[path.stem]
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_figure_cells_show_an_image(path, executed):
    nb = executed[path.stem]
    drawing = [c for c in nb.cells if c.cell_type == "code" and DRAWS.search(c.source)]
    untagged = [c.source.splitlines()[0] for c in drawing if c not in _figure_cells(nb)]
    assert not untagged, f"cells that draw but are not tagged {FIGURE_TAG!r}: {untagged}"
    for cell in _figure_cells(nb):
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert images, f"figure cell shows no image: {cell.source.splitlines()[0]!r}"
        texts = [o["data"].get("text/plain", "") for o in cell.outputs if "data" in o]
        assert len(images) == 1, f"figure cell shows {len(images)} images: {texts}"


def test_explainer_notebook_has_its_figures(executed):
    assert len(_figure_cells(executed["explain_ad"])) >= 4
