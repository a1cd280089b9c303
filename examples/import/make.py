"""Writes mnist_lenet5.onnx: the trained LeNet-5 of examples/weights/mnist_lenet5.safetensors
as PyTorch 2's `torch.onnx.export` writes it (opset 17, nodes named by module path, the
`x.view(x.size(0), -1)` flatten as Shape -> Gather -> Unsqueeze -> Concat -> Reshape).

Built with the `onnx` helper API so no torch is needed (`pip install onnx numpy`); run from
anywhere: `python3 examples/import/make.py`. Then see README.md beside this file.
"""

import json
import os
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[8 + n + begin : 8 + n + end]
        out[name] = np.frombuffer(raw, dtype=np.float32).reshape(info["shape"])
    return out


def main():
    weights = read_safetensors(os.path.join(here, "..", "weights", "mnist_lenet5.safetensors"))
    inits = [numpy_helper.from_array(v, k) for k, v in sorted(weights.items())]
    inits.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "/Constant_1_output_0"))
    node = helper.make_node
    nodes = [
        node("Conv", ["input", "conv1.weight", "conv1.bias"], ["/conv1/Conv_output_0"], "/conv1/Conv",
             kernel_shape=[5, 5], pads=[2, 2, 2, 2], strides=[1, 1], dilations=[1, 1], group=1),
        node("Relu", ["/conv1/Conv_output_0"], ["/Relu_output_0"], "/Relu"),
        node("MaxPool", ["/Relu_output_0"], ["/pool/MaxPool_output_0"], "/pool/MaxPool",
             kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0),
        node("Conv", ["/pool/MaxPool_output_0", "conv2.weight", "conv2.bias"], ["/conv2/Conv_output_0"], "/conv2/Conv",
             kernel_shape=[5, 5], pads=[0, 0, 0, 0], strides=[1, 1], dilations=[1, 1], group=1),
        node("Relu", ["/conv2/Conv_output_0"], ["/Relu_1_output_0"], "/Relu_1"),
        node("MaxPool", ["/Relu_1_output_0"], ["/pool_1/MaxPool_output_0"], "/pool_1/MaxPool",
             kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0),
        node("Shape", ["/pool_1/MaxPool_output_0"], ["/Shape_output_0"], "/Shape"),
        node("Constant", [], ["/Constant_output_0"], "/Constant",
             value=helper.make_tensor("c", TensorProto.INT64, [], [0])),
        node("Gather", ["/Shape_output_0", "/Constant_output_0"], ["/Gather_output_0"], "/Gather", axis=0),
        node("Constant", [], ["/Unsqueeze_axes"], "/Constant_2",
             value=helper.make_tensor("a", TensorProto.INT64, [1], [0])),
        node("Unsqueeze", ["/Gather_output_0", "/Unsqueeze_axes"], ["/Unsqueeze_output_0"], "/Unsqueeze"),
        node("Concat", ["/Unsqueeze_output_0", "/Constant_1_output_0"], ["/Concat_output_0"], "/Concat", axis=0),
        node("Reshape", ["/pool_1/MaxPool_output_0", "/Concat_output_0"], ["/Reshape_output_0"], "/Reshape"),
        node("Gemm", ["/Reshape_output_0", "fc1.weight", "fc1.bias"], ["/fc1/Gemm_output_0"], "/fc1/Gemm",
             alpha=1.0, beta=1.0, transB=1),
        node("Relu", ["/fc1/Gemm_output_0"], ["/Relu_2_output_0"], "/Relu_2"),
        node("Gemm", ["/Relu_2_output_0", "fc2.weight", "fc2.bias"], ["/fc2/Gemm_output_0"], "/fc2/Gemm",
             alpha=1.0, beta=1.0, transB=1),
        node("Relu", ["/fc2/Gemm_output_0"], ["/Relu_3_output_0"], "/Relu_3"),
        node("Gemm", ["/Relu_3_output_0", "fc3.weight", "fc3.bias"], ["logits"], "/fc3/Gemm",
             alpha=1.0, beta=1.0, transB=1),
    ]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])
    graph = helper.make_graph(nodes, "main_graph", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(here, "mnist_lenet5.onnx"))


if __name__ == "__main__":
    main()
