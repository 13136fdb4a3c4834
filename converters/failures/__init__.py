"""When a converter fails: where it broke, read from its own words (failure_site, every step and run_step), and the
known graph-level remedies applied before it runs (onnx_repairs, onnx_to_tf's `repairs`)."""
