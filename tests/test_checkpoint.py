import errno

import pytest
import torch

from dormant.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_loads_with_weights_only(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"agent": {"w": torch.ones(3)}, "counters": {"step": 7}})
    data = load_checkpoint(tmp_path)  # a run directory is accepted too
    assert data["counters"]["step"] == 7 and torch.equal(data["agent"]["w"], torch.ones(3))
    torch.load(path, weights_only=True)  # no pickled objects inside
    assert not (tmp_path / "checkpoint.pt.tmp").exists()


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"counters": {"step": 1}})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)  # checkpoint.py imports torch when it saves
    with pytest.raises(CheckpointError, match="disk full"):
        save_checkpoint(path, {"counters": {"step": 2}})
    monkeypatch.undo()
    assert load_checkpoint(path)["counters"]["step"] == 1
    assert not (tmp_path / "checkpoint.pt.tmp").exists()


def test_corrupt_foreign_and_missing_files_are_refused(tmp_path):
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x04garbage")
    with pytest.raises(CheckpointError, match="corrupt or foreign"):
        load_checkpoint(tmp_path / "corrupt.pt")
    torch.save({"state_dict": {"w": torch.zeros(1)}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a dormant checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")
    save_checkpoint(tmp_path / "future.pt", {})
    data = torch.load(tmp_path / "future.pt", weights_only=True)
    data["version"] = 99
    torch.save(data, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(tmp_path / "future.pt")


def test_pickled_objects_are_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("should not run",))

    torch.save({"format": "dormant-checkpoint", "version": 1, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")
