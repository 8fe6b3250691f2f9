from pathlib import Path

import py7zr
import pytest
from conftest import write_7z_with_member_name

from competition import PipelineError
from competition.core.paths import Paths
from competition.data.archives import ARCHIVES, check_member_name, extract, find_archives


def _archives_in(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ARCHIVES:
        (folder / name).write_bytes(b"")
    return {name: folder / name for name in ARCHIVES}


def test_finds_archives_in_the_input_folder(tmp_path):
    expected = _archives_in(tmp_path / "input")
    assert find_archives(tmp_path / "input", kaggle_input=tmp_path / "nowhere") == expected


def test_falls_back_to_the_kaggle_input_tree(tmp_path):
    expected = _archives_in(tmp_path / "kaggle" / "tensorflow-speech-recognition-challenge")
    assert find_archives(tmp_path / "input", kaggle_input=tmp_path / "kaggle") == expected


def test_missing_archives_name_every_folder_searched_and_file_expected(tmp_path):
    (tmp_path / "kaggle").mkdir()
    with pytest.raises(PipelineError) as error:
        find_archives(tmp_path / "input", kaggle_input=tmp_path / "kaggle")
    message = str(error.value)
    assert str(tmp_path / "input") in message and str(tmp_path / "kaggle") in message
    assert all(name in message for name in ARCHIVES)


@pytest.mark.parametrize("name", ["../evil.txt", "train/../../evil.txt", "/etc/evil.txt", "C:/evil.txt",
                                  "..\\evil.txt"])
def test_member_names_escaping_the_target_are_refused(name):
    with pytest.raises(PipelineError, match="outside the extraction folder"):
        check_member_name(Path("train.7z"), name)


@pytest.mark.parametrize("name", ["train/audio/yes/0a7c2a8d_nohash_0.wav", "sample_submission.csv", "a..b/c"])
def test_ordinary_member_names_pass(name):
    check_member_name(Path("train.7z"), name)


def _paths(tmp_path: Path) -> Paths:
    return Paths(input_dir=tmp_path / "input", work_dir=tmp_path / "work", output=tmp_path / "out.csv")


def test_extraction_refuses_an_archive_with_dotdot_and_writes_nothing(tmp_path):
    archives = _archives_in(tmp_path / "input")
    write_7z_with_member_name(archives["train.7z"], "../evil.txt")
    paths = _paths(tmp_path)
    with pytest.raises(PipelineError, match=r"train\.7z.*'\.\./evil\.txt'"):
        extract({"train.7z": archives["train.7z"]}, paths)
    assert not (paths.work_dir / "evil.txt").exists()
    assert not paths.extract_dir.exists()
    assert list(paths.work_dir.iterdir()) == []  # no half-extracted folder left behind


def test_archive_with_the_wrong_layout_says_what_was_expected(tmp_path):
    archive = tmp_path / "input" / "train.7z"
    archive.parent.mkdir()
    with py7zr.SevenZipFile(archive, "w") as zf:
        zf.writestr(b"x", "something/else.txt")
    with pytest.raises(PipelineError, match=r"expected it to contain train/audio.*something"):
        extract({"train.7z": archive}, _paths(tmp_path))


def test_a_7z_on_the_path_does_the_unpacking_with_the_same_result(tmp_path, monkeypatch):
    """A stand-in `7z` (py7zr behind the real 7-Zip's command line) proves the system tool is
    called with the arguments 7-Zip takes, and that its output is what py7zr gives."""
    import sys

    from competition.data.archives import system_7z
    from competition.data.demo import make_demo_competition

    make_demo_competition(tmp_path / "input", seed=3, n_speakers=2, n_test=4)
    archives = find_archives(tmp_path / "input")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert system_7z() is None
    extract(archives, Paths(tmp_path / "input", tmp_path / "py7zr", tmp_path / "s.csv"))

    tools = tmp_path / "bin"
    tools.mkdir()
    calls = tmp_path / "calls.txt"
    fake = tools / "7z"
    fake.write_text(f"""#!{sys.executable}
import sys, py7zr
open({str(calls)!r}, "a").write(" ".join(sys.argv[1:]) + "\\n")
command, *options, archive = sys.argv[1:]
assert command == "x" and "-y" in options
target = next(o[2:] for o in options if o.startswith("-o"))
with py7zr.SevenZipFile(archive) as zf:
    zf.extractall(target)
""")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    assert system_7z() == str(fake)
    extract(archives, Paths(tmp_path / "input", tmp_path / "system", tmp_path / "s.csv"))
    assert len(calls.read_text().splitlines()) == 3

    def tree(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    assert tree(tmp_path / "system" / "extract") == tree(tmp_path / "py7zr" / "extract")


def test_a_failing_7z_is_a_clear_error_naming_the_archive(tmp_path, monkeypatch):
    from competition.data.demo import make_demo_competition

    make_demo_competition(tmp_path / "input", seed=3, n_speakers=2, n_test=4)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "7z").write_text("#!/bin/sh\necho 'ERROR: Data Error : train/audio/yes/a.wav' >&2\nexit 2\n")
    (tools / "7z").chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    with pytest.raises(PipelineError,
                       match=r"sample_submission.7z: cannot extract \(.*7z exited with 2: ERROR: Data Error"):
        extract(find_archives(tmp_path / "input"), Paths(tmp_path / "input", tmp_path / "w", tmp_path / "s.csv"))
    assert not (tmp_path / "w" / "extract").exists()
