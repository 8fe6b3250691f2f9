#!/usr/bin/env bash
# What each change of the training recipe buys, one row per change, seed 42.
#   bash benchmarks/ablation.sh FOLDER_WITH_ARCHIVES SOLUTION.csv [BASE_WORK_DIR]
# BASE_WORK_DIR: a finished default run (python run.py --stage all --work-dir BASE ...).
# Results land in benchmarks/results/ablation.csv (scores on held-out speakers and on SOLUTION).
source "$(dirname "$0")/variant.sh" "$1" "$2" "${3:-working/final}" ablation
# the default model's own ablation of test-time shifts and the unknown threshold
"$python" benchmarks/posthoc.py --work-dir "$base" --solution "$solution" | tee benchmarks/results/posthoc.txt

variant seed-cnn --model seed-cnn --epochs 15 --no-augment --no-tta --no-calibrate-unknown
variant cnn-issue2 --model cnn --epochs 15 --no-augment --no-tta --no-calibrate-unknown
variant mel-cnn --no-augment --no-tta --no-calibrate-unknown
variant default  # mel-cnn, augmentation, room tone, TTA, unknown threshold; its TTA and threshold
                 # are measured without retraining by benchmarks/posthoc.py
variant no-room-tone --room-tone-share 0
variant ensemble-2x25 --ensemble 2 --epochs 25
