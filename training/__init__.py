"""Framework-free training code: synthetic phantoms, fine-tuning, evaluation, bundle export.

Kept import-light on purpose: the web side imports `training.phantoms` for demo data without
paying for torch/MONAI. Import `training.finetune`, `training.evaluate`, ... explicitly.
"""
