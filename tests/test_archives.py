from pathlib import Path

import py7zr
import pytest

from competition import PipelineError
from competition.archives import ARCHIVES, check_member_name, extract, find_archives
from competition.config import Paths
from conftest import write_7z_with_member_name


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


@pytest.mark.parametrize("name", ["../evil.txt", "train/../../evil.txt", "/etc/evil.txt", "C:/evil.txt", "..\\evil.txt"])
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
