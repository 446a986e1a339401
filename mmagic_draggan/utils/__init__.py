"""Bottom-layer utilities: paths of the project's folders, safe tensor
files, the command-line error rule, images as arrays, fingerprints, memory
release and drawing. Checkpoints have their own subpackage,
:mod:`mmagic_draggan.checkpoints`."""
