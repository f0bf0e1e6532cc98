"""The browser check of the HTML report catches what it should: a clean page passes, and a missing
figure, an error, an unrendered widget, a figure or widget printed as text each fail it."""
import base64
import io

import nbformat
import pytest
from matplotlib.figure import Figure

from idc_lite.runs.html_report import check_pages, expected_outputs, export_html


def _png() -> str:
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def _notebook(*outputs_per_cell, metadata=None, sources=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(metadata or {})
    for i, outputs in enumerate(outputs_per_cell):
        cell = nbformat.v4.new_code_cell((sources or {}).get(i, f"cell_{i}()"))
        cell.outputs = outputs
        nb.cells.append(cell)
    return nb


def _image(data=None):
    return nbformat.v4.new_output("display_data", data={"image/png": data or _png(),
                                                        "text/plain": "<Figure size 100x100 with 1 Axes>"})


def _text(text):
    return nbformat.v4.new_output("execute_result", data={"text/plain": text}, execution_count=1)


def _pages(tmp_path, notebooks: dict):
    executed = []
    for name, nb in notebooks.items():
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        executed.append(path)
    pages = export_html(executed, tmp_path / "html")
    return {page: nb for page, nb in zip(pages, executed)}


WIDGET_VIEW = {"application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 0, "model_id": "abc"},
               "text/plain": "IntSlider(value=3)"}


def test_expected_outputs_reads_the_executed_notebook(tmp_path):
    nb = _notebook([_image()], [_text("<Figure size 640x480 with 1 Axes>")], [],
                   [nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])],
                   sources={2: "explore(label_images_figure, {})"})
    nbformat.write(nb, tmp_path / "n.ipynb")
    found = expected_outputs(tmp_path / "n.ipynb")
    assert found["images"] == 1 and found["bare_explorers"] == ["cell 2"]
    assert found["errors"] == ["cell 3: ValueError: bad"] and len(found["as_text"]) == 1


@pytest.mark.browser
def test_browser_check_passes_a_clean_page_and_fails_broken_ones(tmp_path, browser):
    clean = _notebook([_image()], [_text("accuracy 0.97")], [_image()], sources={2: "explore(figure, {})"})
    broken_image = _notebook([_image(data=base64.b64encode(b"not a png").decode())])
    error = _notebook([_image()], [nbformat.v4.new_output(
        "error", ename="RuntimeError", evalue="boom",
        traceback=["Traceback (most recent call last)", "RuntimeError: boom"])])
    state = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0, "state": {"abc": {
        "model_name": "IntSliderModel", "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
        "state": {"value": 3}}}}}
    widget = _notebook([_image()], [nbformat.v4.new_output("display_data", data=WIDGET_VIEW)], metadata={"widgets": state})
    stateless = _notebook([_image()], [nbformat.v4.new_output("display_data", data=WIDGET_VIEW)])
    as_text = _notebook([_image()], [_text("<Figure size 640x480 with 1 Axes>")],
                        [_text("interactive(children=(IntSlider(value=0),))")])
    explorer = _notebook([_image()], [], sources={1: "explore(noise_figure, {})"})
    papermill = _notebook([_image()])
    papermill.cells.insert(0, nbformat.v4.new_markdown_cell(
        '<span id="papermill-error-cell" style="color:red">Execution using papermill encountered an exception</span>'))
    no_figure = _notebook([_text("nothing drawn")])
    pages = _pages(tmp_path, {"clean": clean, "broken_image": broken_image, "error": error, "widget": widget,
                              "stateless": stateless, "as_text": as_text, "explorer": explorer, "papermill": papermill,
                              "no_figure": no_figure})
    problems = check_pages(pages, browser, widget_wait=1.0)
    assert problems["clean.html"] == []
    assert any("do not display" in p for p in problems["broken_image.html"])
    assert any("error shown on the page" in p for p in problems["error.html"])
    assert any("error in the notebook" in p for p in problems["error.html"])
    assert any("1 of 1 widgets did not render" in p for p in problems["widget.html"])
    assert any("printed as text" in p for p in problems["stateless.html"])       # no state: its text fallback shows
    assert sum("printed as text" in p for p in problems["as_text.html"]) >= 2
    assert any("explorer without its figure" in p for p in problems["explorer.html"])
    assert any("papermill's error marker" in p for p in problems["papermill.html"])
    assert any("no figure at all" in p for p in problems["no_figure.html"])


@pytest.mark.browser
def test_browser_check_counts_a_rendered_widget_as_rendered(tmp_path, browser):
    """Offline there is no widget renderer, so the page is given the rendered widget's DOM itself."""
    nb = _notebook([_image()])
    pages = _pages(tmp_path, {"w": nb})
    page = next(iter(pages))
    rendered = ('<div class="jupyter-widgets jp-OutputArea-output"><div class="widget-slider lm-Widget"></div>'
                '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "abc"}</script></div></body>')
    page.write_text(page.read_text().replace("</body>", rendered, 1))
    assert check_pages(pages, browser, widget_wait=0.5)[page.name] == []


def test_missing_browser_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("IDC_LITE_CHROMIUM", raising=False)
    monkeypatch.delenv("IDC_LITE_CHROMEDRIVER", raising=False)
    with pytest.raises(FileNotFoundError, match="apt-get install chromium chromium-driver"):
        check_pages({tmp_path / "x.html": tmp_path / "x.ipynb"})
