"""The demo's work folder: the user's, made and kept; or a temporary one, removed even when a step fails."""

import tempfile

import pytest

from ghosthub.demo import _where_the_work_went, _work_folder


def test_a_given_work_folder_is_made_and_kept(tmp_path):
    with _work_folder(tmp_path / "new" / "demo", "ghosthub-demo-") as work:
        (work / "hub").mkdir()
    assert work == tmp_path / "new" / "demo" and (work / "hub").is_dir()
    assert _where_the_work_went(work, work / "hub", kept=True) == f"hub in {work / 'hub'}, serve it with " + (
        f"`ghosthub serve {work / 'hub'}`"
    )


def test_the_default_work_folder_is_removed_even_when_a_step_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where TMPDIR would put it
    with _work_folder(None, "ghosthub-demo-") as work:
        (work / "run").mkdir()
        (work / "run" / "best.ckpt").write_bytes(b"x" * 2048)
        said = _where_the_work_went(work, work / "hub", kept=False)
    assert said == f"its files (2.0 KiB: data, run, hub, cache) are removed with {work}; workdir= keeps them"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), _work_folder(None, "ghosthub-demo-") as work:
        (work / "data").mkdir()
        raise RuntimeError("a step failed")
    assert list(tmp_path.iterdir()) == []
