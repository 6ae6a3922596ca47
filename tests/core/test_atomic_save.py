"""Saving replaces the file the user means, and leaves nothing behind when cut short."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from desktop.core.jsonl_io import (
    SaveError,
    atomic_write,
    is_read_only,
    remove_stale_temps,
    stage_write,
    write_target,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="symbolic links and modes")


@posix_only
def test_saving_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    target = folder / "data.jsonl"
    target.write_bytes(b"old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    atomic_write(link, b"new\n")
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert target.read_bytes() == b"new\n"
    assert sorted(p.name for p in folder.iterdir()) == ["data.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "real"]


@posix_only
def test_a_chain_of_links_and_a_relative_link_lead_to_the_real_file(tmp_path):
    target = tmp_path / "data.jsonl"
    target.write_bytes(b"old\n")
    (tmp_path / "one.jsonl").symlink_to("data.jsonl")  # relative
    (tmp_path / "two.jsonl").symlink_to(tmp_path / "one.jsonl")
    assert write_target(tmp_path / "two.jsonl") == target
    atomic_write(tmp_path / "two.jsonl", b"new\n")
    assert target.read_bytes() == b"new\n"
    assert (tmp_path / "two.jsonl").is_symlink() and (tmp_path / "one.jsonl").is_symlink()


@posix_only
def test_read_only_files_are_recognised(tmp_path):
    path = tmp_path / "data.jsonl"
    assert not is_read_only(path)  # not there yet: nothing to protect
    path.write_bytes(b"x\n")
    assert not is_read_only(path)
    path.chmod(0o444)
    assert is_read_only(path)
    link = tmp_path / "link.jsonl"
    link.symlink_to(path)
    assert is_read_only(link)
    path.chmod(0o644)
    assert not is_read_only(link)


@posix_only
def test_replacing_a_read_only_file_keeps_it_read_only(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"old\n")
    path.chmod(0o444)
    atomic_write(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert path.stat().st_mode & 0o777 == 0o444


def test_leftovers_of_interrupted_saves_go_at_the_next_save(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"old\n")
    leftovers = [tmp_path / ".data.jsonl.a1b2c3d4.tmp", tmp_path / ".data.jsonl.zz_9yx8w.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"half a file")
    unrelated = [
        tmp_path / ".other.jsonl.a1b2c3d4.tmp",  # another file's: its own save cleans it
        tmp_path / ".data.jsonl.notours.tmp",  # not a name a save makes
        tmp_path / "data.jsonl.a1b2c3d4.tmp",
    ]
    for other in unrelated:
        other.write_bytes(b"keep me")
    atomic_write(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert not any(leftover.exists() for leftover in leftovers)
    assert all(other.exists() for other in unrelated)


def test_a_save_still_being_written_is_not_mistaken_for_a_leftover(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"old\n")
    staged = stage_write(path, [b"first\n"])  # written, waiting for its rename
    assert remove_stale_temps(tmp_path, "data.jsonl") == 0
    assert staged.temp.exists()
    staged.commit()
    assert path.read_bytes() == b"first\n"
    leftover = tmp_path / ".data.jsonl.q1w2e3r4.tmp"
    leftover.write_bytes(b"half")
    assert remove_stale_temps(tmp_path) == 1
    assert not leftover.exists()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
def test_a_save_killed_mid_write_leaves_a_file_the_next_save_removes(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"old\n")
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from desktop.core.jsonl_io import stage_write

        def parts():
            yield b"x" * 1_000_000
            os.kill(os.getpid(), signal.SIGKILL)
            yield b"never"

        stage_write(Path({str(path)!r}), parts())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert result.returncode == -signal.SIGKILL
    (left,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert left.name.startswith(".data.jsonl.")
    assert path.read_bytes() == b"old\n"
    atomic_write(path, b"new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl"]


def test_a_folder_that_cannot_be_listed_does_not_stop_a_save(tmp_path, monkeypatch):
    path = tmp_path / "data.jsonl"

    def refuse(_folder):
        raise PermissionError("no listing")

    monkeypatch.setattr(os, "scandir", refuse)
    atomic_write(path, b"new\n")
    assert path.read_bytes() == b"new\n"


def test_a_staged_write_that_is_discarded_leaves_the_target_alone(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"old\n")
    staged = stage_write(path, [b"new\n"])
    staged.discard()
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]
    with pytest.raises(SaveError, match="folder no longer exists"):
        atomic_write(tmp_path / "gone" / "data.jsonl", b"x")
