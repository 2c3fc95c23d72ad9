#!/usr/bin/python3
"""PyTorch's side of scripts/bench-train: training steps of small_resnet (examples/models/small_resnet.model,
torchvision BasicBlock naming) at batch 64 on 1x28x28 inputs, 10 classes, Adam (lr 1e-3), random data,
median ms/step after warm-up. Methods: fft (every parameter) and lora-r8 (LoRA r = 8, alpha = r, on every
groups=1 conv, as HF peft builds it for Conv2d: A = conv(C_in -> r, base kernel/stride/padding),
B = 1x1 conv(r -> C_out), zero-initialised; base convs and BN affine parameters frozen, BN still in
training mode; the head trained fully). Prints one RESULT line per method, in the format of
`graphc bench-step`.

Usage: scripts/bench_train_torch.py [--batch 64] [--steps 20] [--warmup 3] [--threads 2] [--methods fft,lora]
"""
import argparse
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class SmallResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(16, 16, 1))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2))
        self.layer3 = nn.Sequential(BasicBlock(32, 64, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class LoRAConv2d(nn.Module):
    """peft's LoRA Conv2d: base(x) + B(A(x)) * alpha / r, base frozen."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Conv2d(base.in_channels, r, base.kernel_size, stride=base.stride, padding=base.padding,
                                dilation=base.dilation, bias=False)
        self.lora_B = nn.Conv2d(r, base.out_channels, 1, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=5 ** 0.5)
        nn.init.zeros_(self.lora_B.weight)
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scale


def lora(model, r):
    for p in model.parameters():
        p.requires_grad_(False)
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Conv2d) and child.groups == 1:
                setattr(module, child_name, LoRAConv2d(child, r, alpha=r))
    for p in model.fc.parameters():
        p.requires_grad_(True)
    return model


def bench(method, args):
    torch.manual_seed(0)
    model = SmallResNet()
    label = method
    if method == "lora":
        model = lora(model, args.rank)
        label = f"lora-r{args.rank}"
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    batches = [(torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))) for _ in range(4)]

    def step(i):
        x, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for i in range(args.warmup):
        step(i)
    times, cpu = [], []
    for i in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step(i)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    times.sort()
    med = statistics.median(times)
    print(f"RESULT torch {label} batch={args.batch} steps={args.steps} median_ms={med * 1e3:.3f} "
          f"min_ms={times[0] * 1e3:.3f} max_ms={times[-1] * 1e3:.3f} cpu_ms={statistics.median(cpu) * 1e3:.3f} trainable={sum(p.numel() for p in params)} "
          f"loss={loss.item():.6f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--methods", default="fft,lora")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}, cpu capability {torch.backends.cpu.get_cpu_capability()}"
          if hasattr(torch.backends, "cpu") else f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for m in args.methods.split(","):
        bench(m.strip(), args)
    print(f"peak RSS (getrusage, whole process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KiB")


if __name__ == "__main__":
    main()
