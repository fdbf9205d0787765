"""Data sets: Fashion-MNIST and IDX folders, image folders (flowers, Office31) and .npz files.

``load_dataset`` is the one entry point; training, evaluation, export's parity batch and
quantization's calibration all read data through it.
"""
