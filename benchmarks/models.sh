#!/usr/bin/env bash
# The model families side by side: same data, seed 42, 15 epochs, augmentation, TTA and the
# calibrated unknown threshold; only --model and --features change.
#   bash benchmarks/models.sh FOLDER_WITH_ARCHIVES SOLUTION.csv [BASE_WORK_DIR]
# BASE_WORK_DIR: a finished default run (python run.py --stage all --work-dir BASE ...).
# Results land in benchmarks/results/models.csv (scores on held-out speakers and on SOLUTION).
source "$(dirname "$0")/variant.sh" "$1" "$2" "${3:-working/final}" models
variant models-dense-mfcc --model dense --features mfcc --epochs 15
variant models-dense-logspec --model dense --features logspec --epochs 15
variant models-conv1d --model conv1d --features wave --epochs 15
variant models-seed-cnn --model seed-cnn --epochs 15
variant models-cnn-mfcc --model cnn --features mfcc --epochs 15
variant models-mel-cnn --model mel-cnn --epochs 15
