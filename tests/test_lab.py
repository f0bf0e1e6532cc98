"""`make lab` serves notebooks/ in JupyterLab, and a notebook's kernel runs in the kit's environment
with its run folder and data root resolved against the repository."""
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


@pytest.mark.slow
def test_make_lab_runs_the_kits_kernel_on_notebooks(tmp_path):
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("IDC_LITE_")},
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    args = (f"LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={TOKEN}")
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
        names = {item["name"] for item in _api(port, "/api/contents")["content"]}
        assert {p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")} <= names
        assert "python3" in _api(port, "/api/kernelspecs")["kernelspecs"]
        session = _api(port, "/api/sessions", {"path": "01_label_images.ipynb", "type": "notebook",
                                               "kernel": {"name": "python3"}})
        connection = Path(env["JUPYTER_RUNTIME_DIR"]) / f"kernel-{session['kernel']['id']}.json"
        client = BlockingKernelClient(connection_file=str(connection))
        client.load_connection_file()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        printed = []
        code = ("import sys, os\nfrom idc_lite.runs import base_dir\nfrom idc_lite.data import resolve_data_root\n"
                "print(sys.prefix, os.getcwd(), base_dir(), resolve_data_root(), sep='\\n')")
        client.execute_interactive(code, timeout=60, output_hook=lambda m: printed.append(m["content"].get("text", "")))
        client.stop_channels()
        prefix, cwd, base, data_root = "".join(printed).split()
        assert Path(prefix) == Path(sys.prefix) == REPO / ".venv"          # the kit's environment is the kernel
        assert Path(cwd) == REPO / "notebooks"                              # where JupyterLab starts the kernel
        assert Path(base) == REPO and Path(data_root) == REPO / "data"     # paths still resolve to the repository
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
