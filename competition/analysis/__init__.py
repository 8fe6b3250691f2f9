"""Analysis: what people read rather than what the pipeline hands on.

explore    side stage: figures about the training data (reports/explore/)
baseline   side stage: classical models on pooled MFCC16k, a score for the network to beat
reports    side stage and after training: curves, confusion, per-class scores, embeddings (reports/train/)
scoring    --score: a submission against a solution file, as Kaggle scores it
html, plots  the report pages and figures they share
"""
