"""Deployment: export the dense models to ONNX / OpenVINO and run the exported files without PyTorch.

    export.py    torch: wrap a model so the graph runs from the numpy inputs to class ids, write the file
                 with the metadata the runtime needs (`omnifuse export`)
    runtime.py   no torch: load an exported file with ONNX Runtime or OpenVINO, read its metadata, run it

Importing this package imports neither torch nor a runtime; docs/deploy.md describes the files.
"""

__all__: list[str] = []
