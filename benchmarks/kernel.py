#!/usr/bin/env python
"""A Kaggle kernel, rehearsed: the README's kernel command on a full-size competition, under the
kernel's folders and limits, on this machine. Needs root (mount, losetup).

    python benchmarks/kernel.py --input-dir input/ --epochs 2
    python benchmarks/kernel.py --input-dir input/ --scale 0.02 --epochs 1   # a quick check

1. Builds once, in --cache, a competition in the exact Kaggle layout from the clips of --input-dir (a
   competition in that layout, such as kaggle-mini): train.7z with the 30 words at the real
   competition's counts (64,721 clips, with the six _background_noise_ files 64,727 WAVs) from 1,881
   speakers, validation_list.txt and testing_list.txt by the data set's own hashing rule, README and
   LICENSE; test.7z with 158,538 clips; sample_submission.7z. Every clip is a source clip (of the same
   word, for training) at a random gain and shift, seeded, made with scale.py's functions. --scale 0.1
   builds a tenth of every count.
2. Lays out a kernel in a private mount namespace (unshare), so no other process on the machine sees
   it: /kaggle/input/<competition>/ with the archives and /kaggle/input/speech-commands/ with a copy of
   this repository's files, both read-only bind mounts in a read-only input/; /kaggle/working/ a 20 GB
   ext4 file system of its own (a loop-mounted image; a plain folder where loop devices fail);
   /kaggle/temp/ a plain folder. /kaggle itself is an empty folder outside the namespace, removed
   afterwards; a /kaggle that holds anything is refused.
3. Runs the README's kernel command as the README writes it (its `!` lines), from /kaggle/working, with
   `--epochs N` added (default 2: the default 40 take hours on 2 cores). The pip line is skipped when
   its package is already importable.
4. Reports each stage's wall time (its manifest), the peak memory of the whole process tree (sampled),
   the bytes in /kaggle/working at the end and at most, the bytes in /kaggle/temp, whether
   submission.csv is valid, and the default training's time extrapolated from the measured epoch.
   Prints one table and writes benchmarks/results/kernel.csv, kernel.json, kernel.txt, the samples
   (kernel-samples.csv) and the pipeline's log (kernel.log).
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scale import KAGGLE_TEST_CLIPS, read_source_clips, vary  # noqa: E402

from competition.core.io import atomic_dir, atomic_path, atomic_write_json, atomic_write_text  # noqa: E402
from competition.core.labels import BACKGROUND_NOISE_DIR, LABELS, WORDS  # noqa: E402
from competition.core.paths import KAGGLE_ROOT, Kaggle, Paths  # noqa: E402

log = logging.getLogger("kernel")

COMPETITION = "tensorflow-speech-recognition-challenge"  # its folder under /kaggle/input/
REPOSITORY = "speech-commands"                            # the repository attached as a dataset (README)
# The real competition's train/audio/<word>/ counts, as a public entry to the competition lists them; they
# sum to 64,721, and with the six _background_noise_ files to the 64,727 WAV files of Speech Commands v0.01,
# recorded from 1,881 speakers.
KAGGLE_WORD_COUNTS = {
    "bed": 1713, "bird": 1731, "cat": 1733, "dog": 1746, "down": 2359, "eight": 2352, "five": 2357, "four": 2372,
    "go": 2372, "happy": 1742, "house": 1750, "left": 2353, "marvin": 1746, "nine": 2364, "no": 2375, "off": 2357,
    "on": 2367, "one": 2370, "right": 2367, "seven": 2377, "sheila": 1734, "six": 2369, "stop": 2380,
    "three": 2356, "tree": 1733, "two": 2373, "up": 2375, "wow": 1745, "yes": 2377, "zero": 2376,
}
KAGGLE_SPEAKERS = 1_881
# The data set's split rule (its README): a speaker's share by the SHA-1 of its id, 10 % validation, 10 % testing.
MAX_WAVS_PER_CLASS = 2**27 - 1
VALIDATION_PERCENT, TESTING_PERCENT = 10.0, 10.0
# Quick to write (about 7 MB/s of WAV here, against 1.4 at py7zr's default) and unpacked at the same speed.
ARCHIVE_FILTERS = [{"id": "LZMA2", "preset": 1}]
BUILD_FORMAT = 1  # bump when the built competition changes, so a cached one is rebuilt
WORKING_LIMIT = 20 * 10**9  # Kaggle's saved output: /kaggle/working at most 20 GB
PIPELINE_WORK = Path("work")  # run.py's work folder under /kaggle/temp/ in a kernel (core/paths.py)


FIXED_SIZE_STAGES = ("operating",)  # stages whose work does not grow with the competition
SAMPLE_COLUMNS = ["seconds", "processes", "tree_rss", "tree_pss", "working_du", "working_files", "working_fs_used",
                  "temp_du", "temp_files"]


# --- the competition ---------------------------------------------------------------------------------------

def scaled_counts(scale: float) -> tuple[dict[str, int], int, int]:
    """Clips per word, speakers and test clips at `scale` of the real competition (at least one of each)."""
    if not 0 < scale <= 1:
        raise SystemExit(f"error: --scale must be in (0, 1]; got {scale}")
    counts = {word: max(1, round(n * scale)) for word, n in KAGGLE_WORD_COUNTS.items()}
    return counts, max(1, round(KAGGLE_SPEAKERS * scale)), max(1, round(KAGGLE_TEST_CLIPS * scale))


def which_set(filename: str) -> str:
    """`validation`, `testing` or `training`, as Speech Commands assigns a file: by its speaker's hash."""
    speaker = re.sub(r"_nohash_.*$", "", Path(filename).name)
    share = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % (MAX_WAVS_PER_CLASS + 1)
    percent = share * (100.0 / MAX_WAVS_PER_CLASS)
    if percent < VALIDATION_PERCENT:
        return "validation"
    return "testing" if percent < VALIDATION_PERCENT + TESTING_PERCENT else "training"


def plan_train(counts: dict[str, int], speakers: int, sources: dict[str, int], seed: int) -> pd.DataFrame:
    """One row per training clip: its word, speaker, repetition (the n of `_nohash_n`), the source clip
    of that word it is made from, its path under train/audio/ and its split. Speakers are 8-hex-digit
    ids, some much more talkative than others (gamma-distributed shares), as in the real data."""
    missing = [word for word in counts if not sources.get(word)]
    if missing:
        raise SystemExit(f"error: the source competition has no clips of {', '.join(missing)}; every one of the "
                         f"30 words needs at least one")
    rng = np.random.default_rng(seed)
    ids: list[str] = []
    while len(ids) < speakers:
        candidate = f"{int(rng.integers(0, 2**32)):08x}"
        if candidate not in ids:
            ids.append(candidate)
    shares = rng.gamma(2.0, size=speakers)
    shares /= shares.sum()
    rows = []
    for word, count in counts.items():
        said: Counter = Counter()
        for speaker in rng.choice(speakers, size=count, p=shares):
            rows.append((word, ids[speaker], said[speaker], int(rng.integers(sources[word]))))
            said[speaker] += 1
    plan = pd.DataFrame(rows, columns=["word", "speaker", "repetition", "source"])
    plan["path"] = plan["word"] + "/" + plan["speaker"] + "_nohash_" + plan["repetition"].astype(str) + ".wav"
    plan["split"] = plan["path"].map(which_set)
    return plan


def extract_source(input_dir: Path, cache: Path) -> Paths:
    """The source competition's archives unpacked by the pipeline's own extract stage, once."""
    from competition import stages
    from competition.core.config import Settings

    source = Paths(input_dir, cache / "source", cache / "source" / "submission.csv")
    if stages.staleness(stages.stage_by_name("extract"), source, Settings()):
        stages.run("extract", source, Settings())
    return source


def _write_7z(archive: Path, members: list[tuple[Path, str]], desc: str) -> None:
    """A 7z archive of (file or folder, name in the archive), written whole or not at all."""
    import py7zr
    from tqdm import tqdm

    filters = [{**f, "id": getattr(py7zr, f"FILTER_{f['id']}")} for f in ARCHIVE_FILTERS]
    with atomic_path(archive) as temp:
        with py7zr.SevenZipFile(temp, "w", filters=filters) as packed:
            for path, name in tqdm(members, desc=desc, unit="file"):
                packed.write(path, name)  # a folder: its entry only; its files are members of their own


def _members(folder: Path, name: str) -> list[tuple[Path, str]]:
    """`folder` and everything under it, folders before their files, as archive members under `name`."""
    found = [(folder, name)]
    for path in sorted(folder.rglob("*")):
        found.append((path, f"{name}/{path.relative_to(folder).as_posix()}"))
    return found


def build_competition(source: Paths, cache: Path, scale: float, seed: int) -> Path:
    """The competition at `scale`, built once: returns the folder holding archives/ and build.json."""
    import scipy.io.wavfile
    from tqdm import tqdm

    from competition.data.archives import ARCHIVES, archive_fingerprint, find_archives

    counts, speakers, test_clips = scaled_counts(scale)
    folder = cache / f"competition-scale{scale:g}-seed{seed}"
    key = {"format": BUILD_FORMAT, "scale": scale, "seed": seed,
           "source": archive_fingerprint(find_archives(source.input_dir))}
    record = folder / "build.json"
    if record.is_file() and json.loads(record.read_text()).get("key") == key:
        log.info("competition at scale %g: built before, in %s", scale, folder)
        return folder
    log.info("building the competition at scale %g in %s (%s training clips, %d speakers, %s test clips)", scale,
             folder, f"{sum(counts.values()):,}", speakers, f"{test_clips:,}")
    started = time.perf_counter()
    words = {word: sorted((source.train_audio_dir / word).glob("*.wav")) for word in WORDS}
    plan = plan_train(counts, speakers, {word: len(files) for word, files in words.items()}, seed)
    with atomic_dir(folder) as temp:
        staging = temp / "staging"
        train = staging / "train"
        rng = np.random.default_rng(seed + 1)
        clips = {word: read_source_clips(files, desc=f"read {word}") for word, files in words.items()}
        for word in WORDS:
            (train / "audio" / word).mkdir(parents=True)
        for row in tqdm(plan.itertuples(), total=len(plan), desc="write train/audio", unit="clip"):
            scipy.io.wavfile.write(train / "audio" / row.path, 16_000, vary(clips[row.word][row.source], rng))
        del clips
        shutil.copytree(source.train_audio_dir / BACKGROUND_NOISE_DIR, train / "audio" / BACKGROUND_NOISE_DIR)
        for name in ("README.md", "LICENSE"):  # the data set's own notes and licence (CC BY 4.0) go along
            if (source.extract_dir / "train" / name).is_file():
                shutil.copy(source.extract_dir / "train" / name, train / name)
        for split in ("validation", "testing"):
            (train / f"{split}_list.txt").write_text("".join(f"{p}\n" for p in plan.loc[plan["split"] == split,
                                                                                        "path"]))
        # the test set: scale.py's, from every clip at hand (the training words, the test's silence and
        # unknowns), then named test/audio/clip_<9 digits>.wav, as the real ones are 9 hexadecimal digits
        from scale import build_test_set

        test_sources = [p for word in WORDS for p in words[word]] + sorted(source.test_audio_dir.glob("*.wav"))
        test_set = build_test_set(test_sources, staging / "test-set", test_clips, seed=seed + 2)
        test = staging / "test"
        test.mkdir()
        (test_set / "audio").rename(test / "audio")
        names = sorted(p.name for p in (test / "audio").glob("*.wav"))
        pd.DataFrame({"fname": names, "label": "silence"}).to_csv(staging / "sample_submission.csv", index=False)
        archives = temp / "archives"
        archives.mkdir()
        _write_7z(archives / "train.7z", _members(train, "train"), "pack train.7z")
        _write_7z(archives / "test.7z", _members(test, "test"), "pack test.7z")
        _write_7z(archives / "sample_submission.7z", [(staging / "sample_submission.csv", "sample_submission.csv")],
                  "pack sample_submission.7z")
        shutil.rmtree(staging)
        splits = plan["split"].value_counts().to_dict()
        atomic_write_json(temp / "build.json", {
            "key": key, "seconds": round(time.perf_counter() - started, 1),
            "train_clips": len(plan), "noise_files": len(list((source.train_audio_dir / BACKGROUND_NOISE_DIR)
                                                              .glob("*.wav"))),
            "speakers": int(plan["speaker"].nunique()), "test_clips": test_clips,
            "validation_clips": int(splits.get("validation", 0)), "testing_clips": int(splits.get("testing", 0)),
            "archive_bytes": {name: (archives / name).stat().st_size for name in ARCHIVES},
            "source": str(source.input_dir)})
    log.info("built in %.0f s", time.perf_counter() - started)
    return folder


# --- the kernel's folders --------------------------------------------------------------------------------

def kernel_commands(readme: Path) -> tuple[list[str], list[str]]:
    """The README's kernel cell: its pip line and its run.py line, each split into words."""
    text = readme.read_text()
    start = text.find("**In a Kaggle kernel**")
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S) if start >= 0 else None
    if block is None:
        raise SystemExit(f"error: {readme} has no bash block after '**In a Kaggle kernel**': the rehearsal runs "
                         f"the command written there")
    lines = [shlex.split(line[1:]) for line in block.group(1).splitlines() if line.startswith("!")]
    pip = [line for line in lines if line[:2] == ["pip", "install"]]
    runs = [line for line in lines if any(word.endswith("run.py") for word in line)]
    if len(runs) != 1 or len(pip) + len(runs) != len(lines):
        raise SystemExit(f"error: expected the README's kernel cell to be a pip line and one run.py line; found "
                         f"{[' '.join(line) for line in lines]}")
    return (pip[0] if pip else []), runs[0]


def copy_repository(target: Path) -> dict:
    """This checkout's tracked files, as they are in the work tree, as the dataset a user would upload."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    if target.exists():
        shutil.rmtree(target)
    for name in sorted(filter(None, files.decode().split("\0"))):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return {"commit": commit, "uncommitted_changes": bool(dirty)}


class Mounts:
    """The mounts made so far, undone in reverse order."""

    def __init__(self) -> None:
        self.points: list[Path] = []

    def bind(self, source: Path, target: Path, read_only: bool = False) -> None:
        _command("mount", "--bind", str(source), str(target))
        self.points.append(target)
        if read_only:
            _command("mount", "-o", "remount,ro,bind", str(target))

    def loop(self, image: Path, target: Path) -> None:
        _command("mount", "-o", "loop", str(image), str(target))
        self.points.append(target)

    def undo(self) -> None:
        while self.points:
            point = self.points.pop()
            if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(point)], capture_output=True)  # busy: detach it lazily


def _command(*words: str) -> None:
    result = subprocess.run(words, capture_output=True, text=True)
    if result.returncode != 0:
        raise OSError(f"{' '.join(words)} failed: {result.stderr.strip() or result.returncode}")


def _refuses_writes(folder: Path) -> bool:
    try:
        (folder / ".rehearsal-write-check").write_text("")
    except OSError as error:
        return error.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    (folder / ".rehearsal-write-check").unlink()
    return False


# --- measuring ---------------------------------------------------------------------------------------------

def disk_usage(folder: Path) -> tuple[int, int]:
    """Bytes on disk (allocated blocks, as du counts) and files under `folder`; files that vanish are skipped."""
    used, files = 0, 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    used += entry.stat(follow_symlinks=False).st_blocks * 512
                    files += 1
            except OSError:
                continue
    return used, files


def filesystem_used(folder: Path) -> int:
    stats = os.statvfs(folder)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def tree_memory(pid: int) -> tuple[int, int, int]:
    """Resident and proportional set sizes (bytes) summed over the process and its descendants, and their
    count. PSS shares each page among the processes mapping it, so forked workers are not counted twice."""
    import psutil

    try:
        processes = [psutil.Process(pid)]
        processes += processes[0].children(recursive=True)
    except psutil.Error:
        return 0, 0, 0
    rss = pss = 0
    for process in processes:
        try:
            text = Path(f"/proc/{process.pid}/smaps_rollup").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines()[1:] if ":" in line)
        rss += int(fields.get("Rss", "0 kB").split()[0]) * 1024
        pss += int(fields.get("Pss", "0 kB").split()[0]) * 1024
    return rss, pss, len(processes)


class Sampler(threading.Thread):
    """Samples the process tree's memory and the kernel folders' bytes every `interval` seconds. A folder
    walk is repeated at most every 20 times its own last duration, so that walking a large /kaggle/temp
    never takes more than a twentieth of the CPU from the run it measures."""

    def __init__(self, pid: int, kernel: Kaggle, working_baseline: int | None, interval: float):
        super().__init__(daemon=True)
        self.pid, self.kernel, self.baseline, self.interval = pid, kernel, working_baseline, interval
        self.rows: list[dict] = []
        self.stopped = threading.Event()
        self.started = time.monotonic()
        self._walks: dict[str, tuple[float, float, tuple[int, int]]] = {}  # folder: (when, seconds, result)

    def _walk(self, name: str, folder: Path, force: bool) -> tuple[int, int]:
        when, seconds, result = self._walks.get(name, (-1e9, 0.0, (0, 0)))
        now = time.monotonic()
        if force or now - when >= max(self.interval, 20 * seconds):
            result = disk_usage(folder)
            self._walks[name] = (now, time.monotonic() - now, result)
        return result

    def sample(self, force: bool = False) -> None:
        rss, pss, processes = tree_memory(self.pid)
        working, working_files = self._walk("working", self.kernel.working, force)
        temp, temp_files = self._walk("temp", self.kernel.temp, force)
        self.rows.append({
            "seconds": round(time.monotonic() - self.started, 1), "processes": processes, "tree_rss": rss,
            "tree_pss": pss, "working_du": working, "working_files": working_files,
            "working_fs_used": (filesystem_used(self.kernel.working) - self.baseline
                                if self.baseline is not None else None),
            "temp_du": temp, "temp_files": temp_files})

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.sample()


def stage_seconds(work: Path) -> list[tuple[str, float]]:
    """Each stage's own wall time, from the manifest it wrote last, in the pipeline's order."""
    from competition.stages import STAGES

    seconds = []
    for stage in STAGES:
        path = work / "manifests" / f"{stage.name}.json"
        if path.is_file():
            seconds.append((stage.name, float(json.loads(path.read_text()).get("seconds", float("nan")))))
    return seconds


def epoch_seconds(history: Path) -> list[float]:
    """Each epoch's wall time (training and validation), from history.csv's running total."""
    if not history.is_file():
        return []
    table = pd.read_csv(history)
    table = table[table["member"] == table["member"].min()]
    return [round(float(s), 1) for s in np.diff(np.concatenate([[0.0], table["seconds"].to_numpy(float)]))]


def check_submission(path: Path, expected: set[str]) -> dict:
    """Whether `path` is a submission Kaggle takes: header fname,label, one row per test clip, the 12 labels."""
    if not path.is_file():
        return {"valid": False, "problems": [f"{path} was not written"], "rows": 0}
    problems = []
    header = path.open().readline().strip()
    if header != "fname,label":
        problems.append(f"header is {header!r}, not 'fname,label'")
    table = pd.read_csv(path, keep_default_na=False, dtype=str)
    if table.get("fname") is not None:
        if table["fname"].duplicated().any():
            problems.append(f"{int(table['fname'].duplicated().sum())} clips named twice")
        if set(table["fname"]) != expected:
            problems.append(f"{len(expected - set(table['fname']))} test clips missing, "
                            f"{len(set(table['fname']) - expected)} not in the test set")
    if table.get("label") is not None:
        strange = sorted(set(table["label"]) - set(LABELS))
        if strange:
            problems.append(f"labels outside the 12: {strange[:5]}")
    counts = table["label"].value_counts().to_dict() if "label" in table else {}
    return {"valid": not problems, "problems": problems, "rows": len(table), "labels": counts}


# --- inside the private mount namespace ------------------------------------------------------------------

def inside(spec_file: Path) -> int:
    """Lay out /kaggle, run the README's command in it while sampling, and write what was measured."""
    spec = json.loads(spec_file.read_text())
    root, kernel = Path(spec["root"]), Kaggle(KAGGLE_ROOT)
    mounts, result = Mounts(), {"conditions": {}}
    conditions = result["conditions"]
    try:
        mounts.bind(root / "kaggle", kernel.root)
        mounts.bind(root / "kaggle" / "input", kernel.input, read_only=True)
        mounts.bind(Path(spec["competition"]), kernel.input / COMPETITION, read_only=True)
        mounts.bind(root / "repository", kernel.input / REPOSITORY, read_only=True)
        conditions["input"] = "read-only bind mounts (mount --bind, then remount,ro,bind), in a read-only input/"
        conditions["input_refuses_writes"] = all(_refuses_writes(folder) for folder in (
            kernel.input, kernel.input / COMPETITION, kernel.input / REPOSITORY))
        baseline = None
        try:
            mounts.loop(root / "working.img", kernel.working)
            baseline = filesystem_used(kernel.working)
            conditions["working"] = (f"a {spec['working_bytes'] / 1e9:.0f} GB ext4 image, loop-mounted "
                                     f"({_loop_device(kernel.working)})")
        except OSError as error:
            log.warning("no loop mount (%s): /kaggle/working is a plain folder; its size is sampled instead", error)
            conditions["working"] = f"a plain folder, its size sampled (loop mount failed: {error})"
        conditions["temp"] = "a plain folder on the host's disk"
        result.update(run_kernel(spec, kernel, baseline))
    finally:
        mounts.undo()
        atomic_write_json(Path(spec["result"]), result)
    return 0 if result.get("exit_code") == 0 else 1


def _loop_device(folder: Path) -> str:
    found = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(folder)], capture_output=True, text=True)
    return found.stdout.strip() or "device unknown"


def run_kernel(spec: dict, kernel: Kaggle, working_baseline: int | None) -> dict:
    pip, command = kernel_commands(kernel.input / REPOSITORY / "README.md")
    command = [*command, "--epochs", str(spec["epochs"])]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    notes = {}
    package = pip[-1] if pip else None
    found = package and subprocess.run(["python", "-c", f"import {package}"], env=env, capture_output=True).returncode
    if pip and found != 0:
        log.info("running %s", " ".join(pip))
        subprocess.run(pip, env=env, check=True)
        notes["pip"] = f"ran: {' '.join(pip)}"
    elif pip:
        notes["pip"] = f"skipped: {package} is already importable by the kernel's python"
    script = next(Path(word) for word in command if word.endswith("run.py"))
    imported = subprocess.run(["python", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import competition; "
                               "print(competition.__file__)", str(script.parent)], env=env, capture_output=True,
                              text=True, cwd=kernel.working).stdout.strip()
    notes["package_imported_from"] = imported
    if not imported.startswith(str(script.parent)):
        raise SystemExit(f"error: run.py would import the package from {imported}, not from its own folder")
    notes["command"] = f"cd {kernel.working} && {' '.join(command)}"
    log.info("running, from %s: %s (its output in %s)", kernel.working, " ".join(command), spec["log"])
    timing = Path(spec["root"]) / "time.txt"
    started = time.perf_counter()
    with open(spec["log"], "w") as output:
        process = subprocess.Popen(["/usr/bin/time", "-v", "-o", str(timing), *command], cwd=kernel.working,
                                   env=env, stdout=output, stderr=subprocess.STDOUT)
        sampler = Sampler(process.pid, kernel, working_baseline, spec["interval"])
        sampler.sample(force=True)
        sampler.start()
        try:
            exit_code = process.wait()
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait()
            sampler.stopped.set()
            sampler.join()
    seconds = time.perf_counter() - started
    sampler.sample(force=True)
    work = kernel.temp / PIPELINE_WORK
    submission = check_submission(kernel.working / "submission.csv",
                                  {f"clip_{i:09d}.wav" for i in range(spec["test_clips"])})
    return {
        "exit_code": exit_code, "seconds": round(seconds, 1), "notes": notes, "samples": sampler.rows,
        "stages": stage_seconds(work), "epochs": epoch_seconds(work / "model" / "history.csv"),
        "max_rss_single_process": _max_rss(timing), "submission": submission,
        "working_files": sorted(str(p.relative_to(kernel.working)) for p in kernel.working.rglob("*")
                                if p.is_file() and p.name != "lost+found"),
        "metrics": json.loads((work / "model" / "metrics.json").read_text())
        if (work / "model" / "metrics.json").is_file() else {},
    }


def _max_rss(timing: Path) -> int | None:
    """/usr/bin/time -v's maximum resident set size: the largest single process of the tree, in bytes."""
    if not timing.is_file():
        return None
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing.read_text())
    return int(found.group(1)) * 1024 if found else None


# --- the report --------------------------------------------------------------------------------------------

def report_rows(result: dict, build: dict, scale: float, epochs: int, default_epochs: int) -> list[dict]:
    samples = pd.DataFrame(result["samples"])
    rows: list[dict] = []

    def row(section: str, item: str, value, unit: str = "", note: str = "") -> None:
        rows.append({"section": section, "item": item, "value": value, "unit": unit, "note": note})

    stages = dict(result["stages"])  # (name, seconds) pairs in the pipeline's order
    for stage, seconds in stages.items():
        row("wall time", stage, round(seconds, 1), "s", "the stage's manifest")
    row("wall time", "the whole command", result["seconds"], "s",
        f"{round(result['seconds'] - sum(stages.values()), 1)} s outside the stages (start-up, recipe)")
    row("memory", "peak of the tree, sum of PSS", round(samples["tree_pss"].max() / 1e6), "MB",
        f"sampled every {result['interval']:g} s; pages shared by forked workers counted once")
    row("memory", "peak of the tree, sum of RSS", round(samples["tree_rss"].max() / 1e6), "MB",
        "the same samples; shared pages counted in every process")
    if result.get("max_rss_single_process"):
        row("memory", "largest single process (max RSS)", round(result["max_rss_single_process"] / 1e6), "MB",
            "/usr/bin/time -v")
    end = samples.iloc[-1]
    row("disk", "/kaggle/working at the end", int(end["working_du"]), "bytes",
        f"{int(end['working_files'])} files: {', '.join(result['working_files']) or 'none'}")
    if samples["working_fs_used"].notna().any():
        peak = int(samples["working_fs_used"].max())
        row("disk", "/kaggle/working at most", peak, "bytes",
            f"its file system's used blocks above the empty one's; {peak / WORKING_LIMIT:.2%} of Kaggle's 20 GB")
    row("disk", "/kaggle/working at most (du)", int(samples["working_du"].max()), "bytes", "walked files")
    row("disk", "/kaggle/temp at the end", int(end["temp_du"]), "bytes",
        f"{int(end['temp_files']):,} files (the work folder: clips, caches, model)")
    row("disk", "/kaggle/temp at most", int(samples["temp_du"].max()), "bytes", "walked files")
    submission = result["submission"]
    row("submission", "valid", submission["valid"], "",
        "; ".join(submission["problems"]) or "header fname,label, one row per test clip, labels from the 12")
    row("submission", "rows", submission["rows"], "", f"{build['test_clips']:,} test clips")
    epoch_times = result["epochs"]
    for number, seconds in enumerate(epoch_times, 1):
        row("training", f"epoch {number}", seconds, "s", "training and validation; history.csv"
            + ("; includes the graph's tracing" if number == 1 else ""))
    if epoch_times:
        measured = epoch_times[-1]
        full_epoch = measured / scale
        others = stages.get("train", sum(epoch_times)) - sum(epoch_times)
        full_train = full_epoch * default_epochs + others / scale
        row("extrapolation", "one epoch at full size", round(full_epoch), "s",
            f"EXTRAPOLATED: epoch {len(epoch_times)}'s {measured:g} s / scale {scale:g} (time linear in clips)")
        row("extrapolation", f"train stage, {default_epochs} epochs at full size", round(full_train / 3600, 2), "h",
            f"EXTRAPOLATED: {default_epochs} x {full_epoch:.0f} s + the stage's other work ({others:.0f} s) / "
            f"scale; early stopping may end it sooner")
        rest = sum(s / (1 if name in FIXED_SIZE_STAGES else scale) for name, s in stages.items() if name != "train")
        row("extrapolation", "--stage all at full size", round((full_train + rest) / 3600, 2), "h",
            f"EXTRAPOLATED: the train stage above, the other stages' times / scale "
            f"({', '.join(FIXED_SIZE_STAGES)} as measured: its streams last --operating-minutes at any scale)")
    return rows


def format_report(rows: list[dict], header: list[str]) -> str:
    table = pd.DataFrame(rows)
    shown = table.assign(value=[f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
                                for v in table["value"]])
    with pd.option_context("display.width", 250, "display.max_colwidth", 130, "display.max_rows", 200):
        return "\n".join([*header, "", shown.to_string(index=False)])


# --- the rehearsal, from outside ----------------------------------------------------------------------------

@contextlib.contextmanager
def kaggle_mount_point():
    """An empty /kaggle to mount over in the namespace, made for the run and removed after it. A /kaggle
    with anything in it is someone's real one: refused."""
    made = False
    if KAGGLE_ROOT.exists():
        if not KAGGLE_ROOT.is_dir() or any(KAGGLE_ROOT.iterdir()):
            raise SystemExit(f"error: {KAGGLE_ROOT} exists and is not empty (a real kernel, or another rehearsal "
                             f"not cleaned up): the rehearsal mounts over {KAGGLE_ROOT} and leaves a real one alone")
    else:
        KAGGLE_ROOT.mkdir()
        made = True
    try:
        yield
    finally:
        if made:
            with contextlib.suppress(OSError):
                KAGGLE_ROOT.rmdir()


@contextlib.contextmanager
def locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"error: another rehearsal is using {folder}") from None
        yield


def mounted_under(folder: Path) -> list[str]:
    """Mount points at or under `folder` in this mount namespace (none, unless a rehearsal ran without one)."""
    points = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    return [p for p in points if p == str(folder) or p.startswith(f"{folder}/")]


def remove_unmounted(path: Path) -> None:
    """Delete `path`, never through a mount (a bind mount's files belong to its source)."""
    if mounted_under(path):
        raise SystemExit(f"error: {', '.join(mounted_under(path))} still mounted; unmount it before the rehearsal "
                         f"deletes {path}")
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def prepare_root(root: Path, working_bytes: int) -> None:
    """The host folders the kernel's are mounted from: kaggle/ (with the mount points), the image."""
    remove_unmounted(root)
    for folder in (f"input/{COMPETITION}", f"input/{REPOSITORY}", "working", "temp"):
        (root / "kaggle" / folder).mkdir(parents=True)
    image = root / "working.img"
    _command("truncate", "-s", str(working_bytes), str(image))
    _command("mkfs.ext4", "-q", str(image))


def main(argv: list[str] | None = None) -> int:
    from competition.core.config import Settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-dir", type=Path,
                        help="a competition in the Kaggle layout whose clips the rehearsal's are made from "
                             "(required)")
    parser.add_argument("--cache", type=Path, default=REPO / "working" / "kernel",
                        help="the built competitions and the kernel's host folders (default: working/kernel)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the real competition's counts to build (default: 1, the full size)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="--epochs for run.py (default: %(default)s; the default recipe's 40 take hours)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the built clips (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=2.0,
                        help="seconds between samples of memory and disk (default: %(default)s)")
    parser.add_argument("--working-size", type=int, default=WORKING_LIMIT,
                        help="bytes of the /kaggle/working file system (default: Kaggle's 20 GB)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the kernel's folders (the working image, temp/ with the run's work folder) in "
                             "CACHE/rehearsal; the mounts are undone whatever this says")
    parser.add_argument("--build-only", action="store_true", help="build the competition, run nothing")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "kernel.csv",
                        help="the table as CSV; .json, .txt, -samples.csv and .log beside it "
                             "(default: benchmarks/results/kernel.csv)")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    if args.inside:
        return inside(args.inside)
    if args.input_dir is None:
        parser.error("the following arguments are required: --input-dir")
    if os.geteuid() != 0:
        raise SystemExit("error: the rehearsal mounts file systems (mount, losetup): run it as root")
    scaled_counts(args.scale)  # checks --scale before anything is built
    cache = args.cache.resolve()
    with locked(cache):
        source = extract_source(args.input_dir.resolve(), cache)
        folder = build_competition(source, cache, args.scale, args.seed)
        build = json.loads((folder / "build.json").read_text())
        if args.build_only:
            print(json.dumps(build, indent=2))
            return 0
        root = cache / "rehearsal"
        prepare_root(root, args.working_size)
        repository = copy_repository(root / "repository")
        output = args.output.resolve()
        output.parent.mkdir(parents=True, exist_ok=True)
        spec = {"root": str(root), "competition": str(folder / "archives"), "epochs": args.epochs,
                "interval": args.interval, "working_bytes": args.working_size, "test_clips": build["test_clips"],
                "log": str(output.with_suffix(".log")), "result": str(root / "result.json")}
        atomic_write_json(root / "spec.json", spec)
        try:
            with kaggle_mount_point():
                child = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, __file__,
                                        "--inside", str(root / "spec.json")])
            result = json.loads((root / "result.json").read_text()) if (root / "result.json").is_file() else None
        finally:
            if not args.keep:
                for name in ("kaggle", "working.img", "repository"):
                    remove_unmounted(root / name)
    if not result or "samples" not in result:
        raise SystemExit(f"error: the rehearsal did not run (exit {child.returncode}); see the messages above")
    result["interval"] = args.interval
    rows = report_rows(result, build, args.scale, args.epochs, Settings().epochs)
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    cpu = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "?")
    header = [
        f"Kaggle kernel rehearsal at scale {args.scale:g} ({build['train_clips']:,} training clips + "
        f"{build['noise_files']} noise files, {build['speakers']:,} speakers, {build['test_clips']:,} test clips; "
        f"archives {sum(build['archive_bytes'].values()) / 1e6:,.0f} MB), --epochs {args.epochs}",
        f"repository {repository['commit']}{' with uncommitted changes' if repository['uncommitted_changes'] else ''}"
        f"; {cpu}, {os.cpu_count()} cores; exit code {result['exit_code']}",
        *(f"{name}: {value}" for name, value in {**result["conditions"], **result["notes"]}.items()),
    ]
    if args.keep:
        header.append(f"kept: {root}/kaggle/temp (the work folder), {root}/working.img "
                      f"(mount -o loop,ro {root}/working.img /mnt to look inside)")
    text = format_report(rows, header)
    pd.DataFrame(rows).to_csv(output, index=False)
    atomic_write_json(output.with_suffix(".json"), {
        "scale": args.scale, "epochs": args.epochs, "build": build, "repository": repository, "cpu": cpu,
        "cores": os.cpu_count(), **{k: v for k, v in result.items() if k != "samples"}, "rows": rows})
    pd.DataFrame(result["samples"], columns=SAMPLE_COLUMNS).to_csv(output.with_name(f"{output.stem}-samples.csv"),
                                                                   index=False)
    atomic_write_text(output.with_suffix(".txt"), text + "\n")
    print(text)
    print(f"\nwrote {output}, {output.with_suffix('.json').name}, {output.with_suffix('.txt').name}, "
          f"{output.stem}-samples.csv and {output.with_suffix('.log').name}")
    return 0 if result["exit_code"] == 0 and result["submission"]["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
