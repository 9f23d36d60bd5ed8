"""The face stage: BlazeFace ``detector``, the landmark mesh (``landmarks``) and its ROI
``crop``, ROI ``geometry``, track bookkeeping (``tracks``), the ``tracker`` that ties them
together (``FaceTracker``: one Frame in, every face out) and the optional ``blendshapes`` model."""
