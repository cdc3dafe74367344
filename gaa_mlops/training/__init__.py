"""Training of the detector (SSD) and the crop verifier (ResNet34); see ``gaa_mlops.train``."""
