"""A checkpoint made ready for a runtime: ONNX / OpenVINO export, INT8 quantization and its
accuracy check, the cached IRs, the default-runtime policy and the bundled model's builder."""
