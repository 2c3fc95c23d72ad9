#!/usr/bin/env python3
"""PyTorch's side of graphc's checkpoint interop test (Tests/graphcTests/PyTorchInteropTests.swift).

    small_resnet.py GRAPHC_CKPT INPUT.npy GRAPHC_LOGITS.npy TORCH_CKPT TORCH_LOGITS.npy

1. Loads graphc's safetensors checkpoint into the PyTorch small_resnet below with
   load_state_dict(strict=True) and checks that its eval-mode logits on INPUT match graphc's.
2. Writes a state dict of its own (seeded init, then three training-mode batches so that the running
   statistics and num_batches_tracked move) as TORCH_CKPT, and its eval-mode logits on INPUT.

safetensors is read and written with struct + json (the `safetensors` package is optional).
small_resnet is examples/models/small_resnet.model written with torchvision's BasicBlock naming.
"""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn

DTYPES = {"F32": np.dtype("<f4"), "I64": np.dtype("<i8")}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        out[name] = torch.from_numpy(array.copy())
    return out


def save_safetensors(state, path, metadata=None):
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        if t.dtype == torch.float32:
            dtype, raw = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype == torch.int64:
            dtype, raw = "I64", t.numpy().astype("<i8").tobytes()
        else:
            raise SystemExit(f"{name}: unsupported dtype {t.dtype}")
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class SmallResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(16, 16, 1))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2))
        self.layer3 = nn.Sequential(BasicBlock(32, 64, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def relative_error(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def main():
    graphc_ckpt, input_npy, graphc_logits, torch_ckpt, torch_logits = sys.argv[1:6]
    x = torch.from_numpy(np.load(input_npy))

    model = SmallResNet()
    model.load_state_dict(load_safetensors(graphc_ckpt), strict=True)
    model.eval()
    with torch.no_grad():
        ours = model(x).numpy()
    theirs = np.load(graphc_logits)
    err = relative_error(theirs, ours)
    print(f"graphc checkpoint in PyTorch: logits relative error {err:.3g}")
    if err > 1e-4:
        raise SystemExit(f"graphc's logits differ from PyTorch's: relative error {err}")

    torch.manual_seed(0)
    fresh = SmallResNet()
    fresh.train()
    with torch.no_grad():
        for _ in range(3):
            fresh(torch.randn(8, 1, 28, 28) * 2 + 0.5)
    fresh.eval()
    with torch.no_grad():
        np.save(torch_logits, fresh(x).numpy().astype("<f4"))
    save_safetensors(fresh.state_dict(), torch_ckpt, {"format": "pt"})


if __name__ == "__main__":
    main()
