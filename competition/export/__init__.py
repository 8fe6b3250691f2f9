"""Deployment: the trained model as files a device runs on its own (side stage export).

graph    the audio-in model: the front end in TFLite builtin ops, then the trained network(s)
convert  TensorFlow Lite conversion, float32 and int8 (the network quantised, the front end in float)
stage    the export stage: export/model.tflite, model_int8.tflite, labels.txt, README.md, export.json

The engines that run these files (`--engine tflite|tflite-int8`) live in inference.tflite.
"""
