"""Ground truth: samples whose right answer is known, so that every artifact (the reference too) is judged
against the truth and not only against the reference's outputs.

Two sources: data sets rendered here from a seed (`input.set=documents`: pages of text with their line boxes,
strings and rotation) and labels a user brings (`input.labels=...`). Both become a `LabelledSet`
(truth/labelled_set.py); validators/ scores outputs against it.
"""
