"""Face detection, landmark mesh and tracking (TFLite models from MediaPipe wheels)."""
