"""The report's HTML pages: executed notebooks exported with nbconvert, and a check of those pages
in a real browser (headless Chromium through Selenium, with the system's Chromium and ChromeDriver;
nothing is downloaded).

    idc-lite check-report runs/<run>      # exit 1 if a page has a problem

What the browser check fails on, per page: the page does not load; a figure is missing (an image
that does not decode, fewer images than the executed notebook has, a figure printed as text, an
explorer cell without its figure); a cell shows an error (a traceback, or papermill's error marker);
a widget does not render (a widget view without a rendered widget, or a widget printed as text).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from idc_lite.foundation.files import atomic_write_bytes, read_notebook

BROWSER_ENV, DRIVER_ENV = "IDC_LITE_CHROMIUM", "IDC_LITE_CHROMEDRIVER"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


FIGURE_AS_TEXT = re.compile(r"<(matplotlib\.figure\.)?Figure( size [\d.x]+ with \d+ Axes| object at)")


WIDGET_AS_TEXT = re.compile(r"^(interactive|VBox|HBox|IntSlider|FloatSlider|Dropdown|Checkbox|Output)\(")


ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\w+(Error|Exception): ", re.M)


def export_html(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """Export executed notebooks to ``out_dir/<name>.html`` (nbconvert's lab template, images
    embedded, widget state kept where the executor stored it).  Returns the pages, in order."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    pages = []
    for notebook in notebooks:
        body, _ = exporter.from_notebook_node(read_notebook(notebook))
        pages.append(atomic_write_bytes(Path(out_dir) / f"{Path(notebook).stem}.html", lambda h, b=body: h.write(b.encode())))
    return pages


def expected_outputs(notebook: Path) -> dict:
    """What the executed notebook itself holds: image outputs, explorer cells without an image,
    error outputs, and outputs that print a figure or a widget as text."""
    nb = read_notebook(notebook)
    images, errors, as_text, bare_explorers = 0, [], [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell_images = 0
        for output in cell.outputs:
            if output.output_type == "error":
                errors.append(f"cell {index}: {output.ename}: {output.evalue[:120]}")
            data = output.get("data", {})
            richer = sum(1 for t in (*IMAGE_TYPES, "application/vnd.jupyter.widget-view+json") if t in data)
            cell_images += sum(1 for t in IMAGE_TYPES if t in data)
            text = "" if richer else data.get("text/plain", "")      # text/plain is only the fallback there
            if FIGURE_AS_TEXT.search(text) or WIDGET_AS_TEXT.match(text):
                as_text.append(f"cell {index}: {text[:80]!r}")
        images += cell_images
        if "explore(" in cell.source and cell_images == 0:
            bare_explorers.append(f"cell {index}")
    return {"images": images, "errors": errors, "as_text": as_text, "bare_explorers": bare_explorers}


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) from ``$IDC_LITE_CHROMIUM`` / ``$IDC_LITE_CHROMEDRIVER`` or the PATH, or None."""
    browser = os.environ.get(BROWSER_ENV) or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = os.environ.get(DRIVER_ENV) or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def headless_chromium(browser: str, driver: str, profile: str):
    """A Selenium driver for headless Chromium (``browser``, ``driver``: paths from :func:`find_browser`;
    ``profile``: an empty folder for its user data), offline-friendly flags included."""
    os.environ.setdefault("SE_OFFLINE", "true")      # Selenium Manager must never fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


_PAGE_SCRIPT = """
const outputs = Array.from(document.querySelectorAll('.jp-OutputArea-output'));
const images = Array.from(document.querySelectorAll('.jp-OutputArea-output img'));
const views = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'));
return {
  title: document.title,
  ready: document.readyState,
  images: images.map(i => ({complete: i.complete, width: i.naturalWidth})),
  stderr: outputs.filter(o => o.dataset.mimeType === 'application/vnd.jupyter.stderr').map(o => o.innerText),
  texts: outputs.map(o => o.innerText),
  views: views.map(v => v.parentElement.querySelectorAll('.widget-box, .widget-slider, .widget-inline-hbox, '
                                                           + '.widget-output, .jupyter-widget, .lm-Widget').length),
  papermillError: !!document.getElementById('papermill-error-cell'),
};
"""


def check_pages(pages: dict[Path, Path], browser: tuple[str, str] | None = None,
                widget_wait: float = 5.0) -> dict[str, list[str]]:
    """Open each exported page in headless Chromium and return ``{page name: [problems]}`` (empty
    lists when all is well).  ``pages``: {html page: the executed notebook it was made from}."""
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium and ChromeDriver found: install them (Debian: apt-get install chromium "
                                f"chromium-driver) or set {BROWSER_ENV} and {DRIVER_ENV}")
    problems: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="idc-lite-chromium-") as profile:
        driver = headless_chromium(*browser, profile)
        try:
            for page, notebook in pages.items():
                problems[Path(page).name] = _check_page(driver, Path(page), Path(notebook), widget_wait)
        finally:
            driver.quit()
    return problems


def _check_page(driver, page: Path, notebook: Path, widget_wait: float) -> list[str]:
    if not page.is_file():
        return [f"no page at {page}"]
    driver.get(page.resolve().as_uri())
    seen = driver.execute_script(_PAGE_SCRIPT)
    deadline = time.monotonic() + widget_wait
    while seen["views"] and not all(seen["views"]) and time.monotonic() < deadline:   # widgets render asynchronously
        time.sleep(0.25)
        seen = driver.execute_script(_PAGE_SCRIPT)
    expected = expected_outputs(notebook)
    found = []
    if seen["ready"] != "complete" or not seen["title"]:
        found.append(f"the page did not load (state {seen['ready']!r}, title {seen['title']!r})")
    shown = sum(1 for i in seen["images"] if i["complete"] and i["width"] > 0)
    if shown < len(seen["images"]):
        found.append(f"{len(seen['images']) - shown} of {len(seen['images'])} figures do not display")
    if len(seen["images"]) < expected["images"]:
        found.append(f"the page has {len(seen['images'])} figures, the executed notebook {expected['images']}")
    if expected["images"] == 0:
        found.append("no figure at all")
    found += [f"figure or widget printed as text, {t}" for t in expected["as_text"]]
    found += [f"explorer without its figure: {c}" for c in expected["bare_explorers"]]
    found += [f"figure or widget printed as text: {t[:80]!r}" for t in seen["texts"]
              if FIGURE_AS_TEXT.search(t) or WIDGET_AS_TEXT.match(t.strip())]
    found += [f"error in the notebook, {e}" for e in expected["errors"]]
    found += [f"error shown on the page: {t.strip().splitlines()[-1][:120]!r}" for t in seen["stderr"] if ERROR_TEXT.search(t)]
    if seen["papermillError"]:
        found.append("papermill's error marker: a cell failed")
    unrendered = sum(1 for rendered in seen["views"] if not rendered)
    if unrendered:
        found.append(f"{unrendered} of {len(seen['views'])} widgets did not render")
    return list(dict.fromkeys(found))


def run_pages(run: Path) -> dict[Path, Path]:
    """{page: executed notebook} for a finished run folder."""
    run = Path(run)
    return {page: run / "notebooks" / f"{page.stem}.ipynb" for page in sorted((run / "html").glob("*.html"))}
