"""Make the bundled BlazeFace ONNX files loadable by tract (0.23).

The upstream files use ConstantOfShape without a `value` attribute. ONNX defines the default as a
float32 zero, but tract-onnx 0.23 defaults to a float64 zero, so the Concat that follows fails type
inference ("Impossible to unify F32 with F64"). This script writes the default explicitly
(float32 0.0): the graph computes exactly the same thing (checked with onnxruntime below).

Usage: python3 fix_constant_of_shape.py ORIGINAL.onnx FIXED.onnx
"""

import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def fix(model: onnx.ModelProto) -> int:
    """Add value=float32[0] to every ConstantOfShape lacking it; return how many were fixed."""
    fixed = 0
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and not any(a.name == "value" for a in node.attribute):
            zero = numpy_helper.from_array(np.zeros([1], dtype=np.float32), name="value")
            node.attribute.append(helper.make_attribute("value", zero))
            fixed += 1
    return fixed


def same_outputs(original: str, fixed: str) -> bool:
    """Run both files on the same random input with onnxruntime; True if outputs are identical."""
    import onnxruntime as ort

    a, b = ort.InferenceSession(original), ort.InferenceSession(fixed)
    shape = [d.dim_value for d in onnx.load(original).graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    name = a.get_inputs()[0].name
    return all(np.array_equal(p, q) for p, q in zip(a.run(None, {name: x}), b.run(None, {name: x})))


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    model = onnx.load(src)
    count = fix(model)
    onnx.save(model, dst)
    print(f"{dst}: {count} ConstantOfShape nodes given an explicit float32 zero")
    print("identical outputs under onnxruntime:", same_outputs(src, dst))
