"""The ground floor: settings and stage configs, where artefacts live, the vocabulary and labels
file, atomic writes, the worker pool and metrics. Knows nothing of stages, models or tasks."""
