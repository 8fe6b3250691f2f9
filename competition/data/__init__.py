"""Data: the competition's files turned into what training reads.

archives   stage 1, extract: find and unpack the three archives safely
prepare    stage 2: index every clip, split by speaker, plan silence and noise windows
features   stage 3: every clip's front-end output in .npy caches, written by worker processes
demo       a small synthetic competition in the exact Kaggle layout
"""
