"""The device runtime: an exported folder run with numpy and LiteRT alone (`python -m competition.device`).

Nothing here loads TensorFlow, scipy, pandas, scikit-learn or soundfile (an import contract), so a
Raspberry Pi with `pip install .` (numpy and ai-edge-litert) runs the folder `--stage export` wrote.
The pieces the pipeline's `--listen` shares with it live here, once:

sources    16-bit WAV files (the `wave` module) and standard input (raw PCM at a stated rate, or a WAV stream)
resample   a block-wise polyphase resampler, resample_poly's filter in numpy
recognizer one-second windows every hop; averaging, threshold, wait for the peak, suppression
listening  the loop from blocks to detections, and the detections CSV
"""
