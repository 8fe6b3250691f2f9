import pandas as pd
import pytest

from competition import PipelineError
from competition.tasks import get_task

check_submission = get_task("commands").check_submission

SAMPLE = pd.DataFrame({"fname": ["clip_a.wav", "clip_b.wav", "clip_c.wav"], "label": ["silence"] * 3})


def test_a_complete_submission_passes_in_any_order():
    check_submission(pd.DataFrame({"fname": ["clip_c.wav", "clip_a.wav", "clip_b.wav"],
                                   "label": ["yes", "unknown", "go"]}),
                     SAMPLE, "sub.csv")


@pytest.mark.parametrize("fnames, labels, message", [
    (["clip_a.wav", "clip_b.wav"], ["yes", "no"],
     r"2 rows.*3.*1 file names of sample_submission.csv are missing.*clip_c"),
    (["clip_a.wav", "clip_b.wav", "clip_c.wav", "clip_d.wav"], ["yes"] * 4,
     r"1 file names are not in sample_submission.csv.*clip_d"),
    (["clip_a.wav", "clip_a.wav", "clip_b.wav", "clip_c.wav"], ["yes"] * 4, r"appear more than once.*clip_a"),
    (["clip_a.wav", "clip_b.wav", "clip_c.wav"], ["yes", "maybe", "no"], r"labels outside.*maybe"),
])
def test_broken_submissions_are_refused_with_the_reason(fnames, labels, message):
    with pytest.raises(PipelineError, match=message):
        check_submission(pd.DataFrame({"fname": fnames, "label": labels}), SAMPLE, "sub.csv")


def test_wrong_columns_are_named():
    with pytest.raises(PipelineError, match="expected columns fname,label; found file,label"):
        check_submission(pd.DataFrame({"file": ["clip_a.wav"], "label": ["yes"]}), SAMPLE, "sub.csv")
