import pytest

from faceattr.atomic import atomic_dir, atomic_path, write_text


def test_failed_write_keeps_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_leftovers_of_a_killed_writer_are_swept(tmp_path):
    (tmp_path / ".out.txt.abc123.tmp").write_text("stale")
    (tmp_path / ".images.xyz.tmp").mkdir()
    (tmp_path / ".images.xyz.tmp" / "1.jpg").write_bytes(b"x")
    (tmp_path / ".other.txt.abc.tmp").write_text("not ours")
    write_text(tmp_path / "out.txt", "new\n")
    with atomic_dir(tmp_path / "images") as staging:
        (staging / "2.jpg").write_bytes(b"y")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.txt.abc.tmp", "images", "out.txt"]
    assert [p.name for p in (tmp_path / "images").iterdir()] == ["2.jpg"]
    assert oct((tmp_path / "out.txt").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
