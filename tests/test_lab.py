"""`make lab` serves the student's own copies of the notebooks in JupyterLab, and a notebook's kernel runs in
the kit's environment with its run folder and data root resolved against the repository."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from jupyter_client import BlockingKernelClient

from conftest import REPO

TOKEN = "idc-lite-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(port: int, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` on a free port with a known token; the student's folder and the run folder are temporary ones."""
    tmp = tmp_path_factory.mktemp("lab")
    port = _free_port()
    # JupyterLab autosaves open notebooks: switch that off, so running one never writes outputs into notebooks/
    settings = tmp / "user-settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("IDC_LITE_")},
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp / "user-settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
           "IDC_LITE_RUN_DIR": str(tmp / "run"), "IDC_LITE_WORKSPACE": str(tmp / "my_notebooks")}
    committed = {p: p.read_bytes() for p in (REPO / "notebooks").glob("*.ipynb")}
    args = (f"LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={TOKEN} --LabApp.expose_app_in_browser=True")
    server = subprocess.Popen(["make", "-s", "lab", args], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _api(port, "/api/status")
                break
            except OSError:
                assert server.poll() is None, "make lab exited"
                assert time.monotonic() < deadline, "JupyterLab did not start within 120 s"
                time.sleep(1)
        yield {"port": port, "runtime": Path(env["JUPYTER_RUNTIME_DIR"]), "run": Path(env["IDC_LITE_RUN_DIR"]),
               "workspace": Path(env["IDC_LITE_WORKSPACE"])}
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        changed = [p.name for p, data in committed.items() if p.read_bytes() != data]
        for p in committed:
            p.write_bytes(committed[p])
        assert changed == [], f"JupyterLab wrote into the committed notebooks: {changed}"


@pytest.mark.slow
@pytest.mark.browser
def test_make_lab_runs_the_kits_kernel_on_the_students_own_copies(lab):
    port = lab["port"]
    names = {item["name"] for item in _api(port, "/api/contents")["content"]}
    assert {p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")} <= names
    served = (lab["workspace"] / "01_label_images.ipynb").read_text()     # the student copy, not the source
    assert "raise NotImplementedError()" in served and "BEGIN SOLUTION" not in served
    assert "python3" in _api(port, "/api/kernelspecs")["kernelspecs"]
    session = _api(port, "/api/sessions", {"path": "01_label_images.ipynb", "type": "notebook",
                                           "kernel": {"name": "python3"}})
    client = BlockingKernelClient(connection_file=str(lab["runtime"] / f"kernel-{session['kernel']['id']}.json"))
    client.load_connection_file()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    printed = []
    code = ("import sys, os\nfrom idc_lite.foundation.runtime import base_dir\n"
            "from idc_lite.data.datasets import resolve_data_root\n"
            "print(sys.prefix, os.getcwd(), base_dir(), resolve_data_root(), sep='\\n')")
    client.execute_interactive(code, timeout=60, output_hook=lambda m: printed.append(m["content"].get("text", "")))
    client.stop_channels()
    prefix, cwd, base, data_root = "".join(printed).split()
    assert Path(prefix) == Path(sys.prefix) == REPO / ".venv"          # the kit's environment is the kernel
    assert Path(cwd) == lab["workspace"]                                # where JupyterLab starts the kernel
    assert Path(base) == REPO and Path(data_root) == REPO / "data"     # paths still resolve to the repository


@pytest.mark.slow
@pytest.mark.browser
def test_an_explorer_redraws_in_jupyterlab(lab, browser):
    """In a real JupyterLab page: run notebook 01, find the label-image explorer's controls, switch its
    scaling to 'global' and see the figure redrawn by the kernel."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from idc_lite.runs.html_report import headless_chromium

    profile = lab["runtime"].parent / "chromium"
    driver = headless_chromium(*browser, str(profile))
    try:
        driver.get(f"http://127.0.0.1:{lab['port']}/lab/tree/01_label_images.ipynb?token={TOKEN}")
        # the redraw replaces the figure's <img>: one found just before it is gone raises
        # StaleElementReferenceException, which means "look again", not a failure
        wait = WebDriverWait(driver, 180, poll_frequency=0.5, ignored_exceptions=(StaleElementReferenceException,))
        wait.until(lambda d: d.execute_script(
            "const app = window.jupyterapp; const w = app && app.shell.currentWidget;"
            "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
            " && w.content && w.content.widgets.length > 10);"))
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
        select = wait.until(lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, ".widget-dropdown select")
                                            if "global" in e.text), None))
        explorer = select.find_element(By.XPATH, "ancestor::div[contains(@class, 'jp-OutputArea')][1]")

        def figure_source(d):
            images = explorer.find_elements(By.CSS_SELECTOR, ".widget-output img, .jp-OutputArea-output img")
            return images[-1].get_attribute("src") if images else None

        before = wait.until(figure_source)
        Select(select).select_by_visible_text("global")
        wait.until(lambda d: figure_source(d) not in (None, before))
        errors = driver.execute_script(
            "return Array.from(document.querySelectorAll('[data-mime-type=\"application/vnd.jupyter.stderr\"]'))"
            ".map(e => e.innerText).filter(t => t.includes('Traceback'));")
        # a student copy's unanswered exercises raise NotImplementedError by design; nothing else may fail
        assert [e for e in errors if "NotImplementedError" not in e] == []
    finally:
        driver.quit()
