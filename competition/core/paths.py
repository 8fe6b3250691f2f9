"""Where every artefact lives: each file the stages hand on is named here, and only here."""
from __future__ import annotations

import dataclasses
from pathlib import Path

# "unseen": the clips of speakers the speakers task never trains on (empty for the other tasks)
INDEX_FEATURE_SPLITS = ("train", "validation", "noise", "unseen")
FEATURE_SPLITS = (*INDEX_FEATURE_SPLITS, "test")
REPORT_PAGE = "index.html"  # every report folder's page


# A Kaggle kernel's folders, as its starter notebook describes them: input/ holds the competition's data and
# every attached dataset, read-only; working/ is saved as the kernel's output (at most 20 GB), where Submit
# finds the submission; temp/ is writable and not saved. A kernel is recognised by its working/ folder.
KAGGLE_ROOT = Path("/kaggle")
# Elsewhere the defaults lie in the current folder, a checkout's own.
LOCAL_INPUT, LOCAL_WORK, LOCAL_SUBMISSIONS = Path("input"), Path("working"), Path("submissions")
DEMO = "demo"  # --demo's subfolder of the input and work folders, and its submission's prefix

# The competition's task keeps the work folder's top level (so its runs resume across versions);
# every other task gets a folder of its own there, and only the extracted archives are shared.
DEFAULT_TASK = "commands"
SHARED_STAGE = "extract"


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where the stages read and write. Everything under work_dir can be rebuilt."""

    input_dir: Path
    work_dir: Path
    output: Path
    task: str = DEFAULT_TASK
    # the refit model's side (--stage refit): its own model folder and probabilities, beside the validated ones
    refit: bool = False

    @property
    def task_dir(self) -> Path:
        """Where this task's artefacts live: running one task never touches another's."""
        return self.work_dir if self.task == DEFAULT_TASK else self.work_dir / "tasks" / self.task

    @property
    def recipe(self) -> Path:
        """The settings of the last run in this task's folder, as a recipe --config reads back."""
        return self.task_dir / "recipe.toml"

    # extract
    @property
    def extract_dir(self) -> Path:
        return self.work_dir / "extract"

    @property
    def train_audio_dir(self) -> Path:
        return self.extract_dir / "train" / "audio"

    @property
    def test_audio_dir(self) -> Path:
        return self.extract_dir / "test" / "audio"

    @property
    def sample_submission(self) -> Path:
        return self.extract_dir / "sample_submission.csv"

    # prepare
    @property
    def prepare_dir(self) -> Path:
        return self.task_dir / "prepare"

    @property
    def index_csv(self) -> Path:
        return self.prepare_dir / "index.csv"

    @property
    def test_index_csv(self) -> Path:
        return self.prepare_dir / "test_index.csv"

    # features
    @property
    def features_dir(self) -> Path:
        return self.task_dir / "features"

    def feature_cache(self, split: str) -> Path:
        return self.features_dir / f"{split}.npy"

    def feature_table(self, split: str) -> Path:
        """The cache's rows, one line each: the clip, its label and whether it could be read."""
        return self.features_dir / f"{split}.csv"

    # train
    @property
    def model_dir(self) -> Path:
        return self.task_dir / ("refit" if self.refit else "model")

    @property
    def refitted(self) -> Paths:
        """The same folders with the refit model's in place of the validated model's."""
        return dataclasses.replace(self, refit=True)

    @property
    def model_file(self) -> Path:
        return self.member_file(0)

    def member_file(self, member: int) -> Path:
        return self.model_dir / ("model.keras" if member == 0 else f"model-{member}.keras")

    @property
    def labels_file(self) -> Path:
        return self.model_dir / "labels.txt"

    @property
    def inference_config(self) -> Path:
        return self.model_dir / "predict_config.json"

    @property
    def verification(self) -> Path:
        """What train measured on speakers it never saw (tasks.verification.Verification; the curve beside it)."""
        return self.model_dir / "verification.json"

    @property
    def verification_curve(self) -> Path:
        """Its false-accept and false-reject rates by threshold, written with it."""
        return self.verification.with_suffix(".csv")

    @property
    def history_csv(self) -> Path:
        return self.model_dir / "history.csv"

    @property
    def metrics_json(self) -> Path:
        return self.model_dir / "metrics.json"

    @property
    def confusion_csv(self) -> Path:
        return self.model_dir / "confusion_matrix.csv"

    @property
    def checkpoint_model(self) -> Path:
        return self.model_dir / "checkpoint.keras"

    @property
    def checkpoint_state(self) -> Path:
        return self.model_dir / "checkpoint.json"

    # predict
    @property
    def predict_dir(self) -> Path:
        return self.task_dir / "predict"

    @property
    def probabilities(self) -> Path:
        return self.predict_dir / ("refit-probabilities.npy" if self.refit else "probabilities.npy")

    # operating
    @property
    def operating_dir(self) -> Path:
        return self.task_dir / "operating"

    @property
    def operating_points(self) -> Path:
        """The listener's false accepts an hour and commands missed, per threshold (device.operating_point)."""
        return self.operating_dir / "points.csv"

    @property
    def operating_plot(self) -> Path:
        return self.operating_dir / "det.png"

    # side stages
    @property
    def export_dir(self) -> Path:
        return self.task_dir / "export"

    def exported_model(self, int8: bool, listening: bool = False) -> Path:
        """An exported file; `listening`: the one with the listening head (models.open_set)."""
        return self.export_dir / f"{'listening_' if listening else ''}model{'_int8' if int8 else ''}.tflite"

    @property
    def export_labels(self) -> Path:
        return self.export_dir / "labels.txt"

    @property
    def export_info(self) -> Path:
        """What the exported files were made from and how to feed them (inference.tflite.ExportInfo)."""
        return self.export_dir / "export.json"

    @property
    def export_readme(self) -> Path:
        return self.export_dir / "README.md"

    @property
    def baseline_dir(self) -> Path:
        return self.task_dir / "baseline"

    @property
    def baseline_results(self) -> Path:
        return self.baseline_dir / "results.csv"

    def baseline_model(self, name: str) -> Path:
        return self.baseline_dir / f"{name}.joblib"

    def baseline_cache(self, split: str, key: str) -> Path:
        return self.baseline_dir / f"mfcc-{split}-{key}.npy"

    @property
    def reports_dir(self) -> Path:
        return self.task_dir / "reports"

    @property
    def explore_report(self) -> Path:
        return self.reports_dir / "explore"

    @property
    def train_report(self) -> Path:
        return self.reports_dir / "train"

    @property
    def explore_page(self) -> Path:
        return self.explore_report / REPORT_PAGE

    @property
    def train_report_page(self) -> Path:
        return self.train_report / REPORT_PAGE

    def manifest(self, stage: str) -> Path:
        # extract is shared by every task: its manifest too
        return (self.work_dir if stage == SHARED_STAGE else self.task_dir) / "manifests" / f"{stage}.json"


@dataclasses.dataclass(frozen=True)
class Kaggle:
    """A Kaggle kernel's folders under `root`."""

    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def working(self) -> Path:
        return self.root / "working"

    @property
    def temp(self) -> Path:
        return self.root / "temp"

    @property
    def running(self) -> bool:
        """Whether this process runs in a Kaggle kernel: the one test, used for every default."""
        return self.working.is_dir()


def kaggle() -> Kaggle:
    return Kaggle(KAGGLE_ROOT)  # read at each call, so a test can move the root


def default_input_dir(demo: bool) -> Path:
    """input/ (input/demo/ with --demo); in a kernel the read-only /kaggle/input/, and the demo's
    generated archives in /kaggle/temp/input/demo/."""
    kernel = kaggle()
    if kernel.running:
        return kernel.temp / "input" / DEMO if demo else kernel.input
    return LOCAL_INPUT / DEMO if demo else LOCAL_INPUT


def default_work_dir(demo: bool) -> Path:
    """working/; in a kernel /kaggle/temp/work/, outside the saved output, which the full competition's
    about 15 GB of clips and caches (docs/scale.md) would nearly fill. A demo/ subfolder with --demo."""
    kernel = kaggle()
    base = kernel.temp / "work" if kernel.running else LOCAL_WORK
    return base / DEMO if demo else base


def default_submission(demo: bool, task: str = DEFAULT_TASK, baseline_model: str | None = None,
                       refit: bool = False) -> Path:
    """submissions/submission.csv; in a kernel /kaggle/working/submission.csv, where Submit finds it.
    Each task has its own file, the demo too, and neither a baseline nor a refit writes over the CNN's."""
    kernel = kaggle()
    folder = kernel.working if kernel.running else LOCAL_SUBMISSIONS
    prefix = "" if task == DEFAULT_TASK else f"{task}-"
    if baseline_model:
        return folder / f"{prefix}baseline-{baseline_model}.csv"
    return folder / f"{f'{DEMO}_' if demo else ''}{prefix}submission{'-refit' if refit else ''}.csv"


def not_writable(folder: Path, what: str, error: OSError) -> str:
    """The error for a folder a run cannot write to: which, where, why; under a kernel's read-only
    input folder (a repository attached as a dataset, run from its own folder), where to write instead."""
    message = (f"{what} {folder} is not writable ({error.strerror or error}); expected a folder this run can "
               f"create files in")
    kernel = kaggle()
    resolved, read_only = Path(folder).resolve(), kernel.input.resolve()
    if resolved == read_only or read_only in resolved.parents:
        message += (f": {kernel.input}/ is read-only in a Kaggle kernel; leave the flag out for the defaults "
                    f"(under {kernel.working}/ and {kernel.temp}/) or give a folder there")
    return message
