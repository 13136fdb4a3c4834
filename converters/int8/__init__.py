"""The int8 steps' helpers: the accuracy-aware search they share (search.py) and each step's quantizer:
quantize_onnxruntime (onnx_precision), quantize_openvino (onnx_to_openvino), quantize_tflite (tf_to_tflite)."""
