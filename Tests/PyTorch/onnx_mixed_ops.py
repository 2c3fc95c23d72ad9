"""Writes the mixed-ops ONNX fixtures (Tests/FrontendTests/Fixtures/onnx/mixed_ops_*), with PyTorch 1.13:
a small net of the ops PyTorch exports for ReLU6 (Clip), max and average pooling (Pad + AveragePool),
depthwise conv, Hardswish (HardSigmoid · x at opset 13), torch.cat (Concat), a squeeze-excite gate
(ReduceMean, Hardsigmoid, Mul), sigmoid, mean over H, W (ReduceMean keepdims 0), dropout and a linear
head; exported at opset 13 in training mode (BN kept) and eval mode (BN folded), with a 3x3x32x32 input
and PyTorch's eval-mode logits, all little-endian float32.

    /usr/bin/python3 Tests/PyTorch/onnx_mixed_ops.py OUT_DIR
"""
import sys

import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        s.pool = nn.MaxPool2d(3, 2, 1)
        s.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        s.a = nn.Conv2d(16, 8, 1)
        s.b = nn.Conv2d(16, 8, 3, padding=1)
        s.se = nn.Sequential(nn.Conv2d(16, 4, 1), nn.ReLU(), nn.Conv2d(4, 16, 1), nn.Hardsigmoid())
        s.avg = nn.AvgPool2d(2)
        s.drop = nn.Dropout(0.2)
        s.fc = nn.Linear(16, 10)

    def forward(s, x):
        x = s.pool(s.stem(x))
        x = s.dw(x)
        x = torch.cat([s.a(x), s.b(x)], 1)
        x = x * s.se(x.mean((2, 3), keepdim=True))
        x = torch.sigmoid(s.avg(x))
        x = x.mean([2, 3])
        return s.fc(s.drop(x))


out = sys.argv[1]
torch.manual_seed(0)
for mode, tm in [("train", torch.onnx.TrainingMode.PRESERVE), ("eval", torch.onnx.TrainingMode.EVAL)]:
    m = Net()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2)
    m.eval() if mode == "eval" else m.train()
    x = torch.randn(3, 3, 32, 32)
    torch.onnx.export(m, x, f"{out}/mixed_ops_{mode}.onnx", opset_version=13, training=tm,
                      do_constant_folding=(mode == "eval"), input_names=["input"], output_names=["logits"])
    m.eval()
    with torch.no_grad():
        y = m(x)
    x.numpy().astype("<f4").tofile(f"{out}/mixed_ops_{mode}_input.f32")
    y.numpy().astype("<f4").tofile(f"{out}/mixed_ops_{mode}_output.f32")
    print(mode, sum(p.numel() for p in m.parameters()), "parameters")
