"""What a step is given and reads: the run's StepInputs (step_inputs), the arrays made from them (feed_arrays: example
values, calibration samples) and an ONNX file's tensors, opset and quantization ops (onnx_io)."""
