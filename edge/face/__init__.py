"""The face stage: BlazeFace ``detector``, the landmark mesh (``landmarks``), ROI
``geometry``, track bookkeeping (``tracks``), the ``tracker`` that ties them together
(``FaceTracker``: one Frame in, every face out) and the optional ``blendshapes`` model."""
