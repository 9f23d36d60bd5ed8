"""The brain: from landmarks to slips.

``au_geometry`` (geometric action-unit proxies), ``features`` (per-track neutral baseline ->
AUFrames), ``resample`` (any rate onto the model's grid) and ``spotting`` (the micro-event
model and its post-processing -> SlipEvents); ``appearance`` (the face-crop classifier),
``fusion`` (the emotion of a slip from temporal, appearance and AU evidence) and ``episodes``
(long appearance runs: crying, laughing as macro expressions).
"""
