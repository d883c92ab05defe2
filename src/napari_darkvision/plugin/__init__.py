"""The napari face: the npe2 reader, writers, sample data and the Enhance widget (napari.yaml)."""
