"""Projects → datasets. One job per module:

- ``digest``: the content address (project files, recipe, image size, classes, builder version)
- ``assets``: source images by role, lazy loading, sprite augmentation
- ``compose``: synthetic screenshots for the detector (and real ones resized)
- ``verifier``: square crops for the verifier, cut with ``game_eye.crops.square_crop_box``
- ``build``: ``build_dataset(...)`` — cached, atomic, 2 worker processes
- ``loaders``: torch Datasets over a built dataset
- ``mlflow_dataset``: ``log_dataset(built)`` — the run's dataset input and archive
"""
