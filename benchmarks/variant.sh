# Shared by ablation.sh and models.sh (source it with: ARCHIVES SOLUTION.csv [BASE_WORK_DIR] RESULT_NAME).
# variant() trains one variant of the default run in BASE_WORK_DIR and appends its scores to
# benchmarks/results/RESULT_NAME.csv. Each variant copies the base run's extract/prepare/features,
# so only what the variant changes is recomputed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
input=$1; solution=$2; base=${3:-working/final}; out=benchmarks/results/$4.csv
python=${PYTHON:-.venv/bin/python}
mkdir -p benchmarks/results working/ablation
header=variant,flags,features,parameters,validation_balanced,validation_plain,public,train_seconds
if [ -f "$out" ] && [ "$(head -n 1 "$out")" != "$header" ]; then
  mv "$out" "$out.old" && echo "moved $out, written with other columns, to $out.old" >&2
fi
[ -f "$out" ] || echo "$header" > "$out"

variant() {  # name, then the flags that differ from the defaults
  local name=$1; shift
  local work=working/ablation/$name
  [ "$name" = default ] && work=$base
  if [ ! -f "$work/manifests/predict.json" ]; then
    rm -rf "$work" && mkdir -p "$work"
    cp -r "$base"/{extract,prepare,features,manifests} "$work"/
    rm -f "$work"/manifests/{train,predict}.json
    "$python" run.py --stage all --input-dir "$input" --work-dir "$work" --output "$work/submission.csv" "$@" \
      > "$work/run.log" 2>&1
  fi
  "$python" - "$work" "$solution" "$name" "$*" >> "$out" <<'PY'
import json, sys
from pathlib import Path
from competition.analysis.scoring import score
work, solution, name, flags = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
metrics = json.loads((work / "model/metrics.json").read_text())
train = json.loads((work / "manifests/train.json").read_text())
public = score(work / "submission.csv", solution)["accuracy"]
print(f"{name},{flags},{train['config'].get('features', 'logspec')},{metrics['parameters']},{metrics['validation_balanced_accuracy']:.4f},"
      f"{metrics['validation_accuracy']:.4f},{public:.4f},{train['seconds']}")
PY
  tail -n 1 "$out"
}
