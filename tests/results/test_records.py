"""What a results record refuses to be made from: runs whose figures are not results."""
import json

import pytest

from idc_lite.foundation.errors import RunFolderError
from idc_lite.results import records


@pytest.mark.parametrize("summary, words", [
    ({"smoke": True, "complete": True}, "smoke or incomplete"),
    ({"smoke": False, "complete": False}, "smoke or incomplete"),
    ({"smoke": False, "complete": True, "parameters": {"lab": True}}, "lab sizes"),
])
def test_smoke_incomplete_and_lab_runs_make_no_record(tmp_path, summary, words):
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(RunFolderError, match=words):
        records.add_run(tmp_path, "anything", records_dir=tmp_path / "records")
    assert not (tmp_path / "records").exists()
