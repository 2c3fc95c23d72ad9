#!/usr/bin/env python3
"""Independent cross-check of the MobileNet / EfficientNet zoo files (no torch needed).

Mirrors torchvision 0.14-0.16's construction code (mobilenetv2.py, mobilenetv3.py, efficientnet.py,
ops/misc.py) layer by layer, with PyTorch's state_dict names, and computes output shapes, parameter
counts and conv + linear MACs (the thop / fixture convention: one MAC per kernel tap, groups-aware).

    python3 scripts/zoo_counts.py                      # summary table
    python3 scripts/zoo_counts.py mobilenet_v2 3x32x32 10 --layers   # one model, every layer
"""
import math
import sys


def make_divisible(v, divisor, min_value=None):
    """torchvision's _make_divisible."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Net:
    def __init__(self, c, h, w):
        self.shape = [c, h, w]
        self.layers = []  # (name, type, out_shape, macs, params)

    def conv(self, name, out, k, stride=1, groups=1, bias=False, dilation=1):
        c, h, w = self.shape
        assert c % groups == 0 and out % groups == 0
        pad = (k - 1) // 2 * dilation
        ho = (h + 2 * pad - dilation * (k - 1) - 1) // stride + 1
        wo = (w + 2 * pad - dilation * (k - 1) - 1) // stride + 1
        params = out * (c // groups) * k * k + (out if bias else 0)
        macs = out * ho * wo * (c // groups) * k * k
        self.shape = [out, ho, wo]
        self.layers.append((name, "Conv2d", list(self.shape), macs, params))

    def bn(self, name):
        self.layers.append((name, "BatchNorm2d", list(self.shape), 0, 2 * self.shape[0]))

    def linear(self, name, out):
        (c,) = self.shape
        self.shape = [out]
        self.layers.append((name, "Linear", [out], c * out, c * out + out))

    def pool(self):
        self.shape = [self.shape[0], 1, 1]

    def flatten(self):
        self.shape = [self.shape[0] * self.shape[1] * self.shape[2]]

    def conv_bn_act(self, prefix, out, k=3, stride=1, groups=1, act=True, dilation=1):
        """torchvision.ops.misc.Conv2dNormActivation: `.0` conv (bias=False), `.1` BN, `.2` act."""
        self.conv(f"{prefix}.0", out, k, stride, groups, dilation=dilation)
        self.bn(f"{prefix}.1")

    def se(self, prefix, squeeze):
        """torchvision.ops.misc.SqueezeExcitation: fc1/fc2 are 1x1 convs with bias, at 1x1 spatial."""
        saved = list(self.shape)
        c = saved[0]
        self.pool()
        self.conv(f"{prefix}.fc1", squeeze, 1, bias=True)
        self.conv(f"{prefix}.fc2", c, 1, bias=True)
        self.shape = saved

    @property
    def params(self):
        return sum(l[4] for l in self.layers)

    @property
    def macs(self):
        return sum(l[3] for l in self.layers)


def mobilenet_v2(inp, classes):
    n = Net(*inp)
    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
               [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
    c_in = make_divisible(32, 8)
    last = make_divisible(1280, 8)
    n.conv_bn_act("features.0", c_in, stride=2)
    idx = 1
    for t, c, reps, s in setting:
        out = make_divisible(c, 8)
        for i in range(reps):
            stride = s if i == 0 else 1
            hidden = int(round(c_in * t))
            p = f"features.{idx}.conv"
            j = 0
            if t != 1:
                n.conv_bn_act(f"{p}.{j}", hidden, k=1)
                j += 1
            n.conv_bn_act(f"{p}.{j}", hidden, stride=stride, groups=hidden)
            n.conv(f"{p}.{j + 1}", out, 1)
            n.bn(f"{p}.{j + 2}")
            c_in = out
            idx += 1
    n.conv_bn_act(f"features.{idx}", last, k=1)
    n.pool()
    n.flatten()
    n.linear("classifier.1", classes)
    return n


MBV3_LARGE = [  # input, kernel, expanded, out, use_se, activation, stride
    (16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2), (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2), (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1), (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1), (160, 5, 960, 160, True, "HS", 1),
]
MBV3_SMALL = [
    (16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
    (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
    (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1),
]


def mobilenet_v3(setting, last_channel, inp, classes):
    n = Net(*inp)
    n.conv_bn_act("features.0", setting[0][0], stride=2)
    for i, (cin, k, exp, out, se, act, s) in enumerate(setting):
        p = f"features.{i + 1}.block"
        j = 0
        if exp != cin:
            n.conv_bn_act(f"{p}.{j}", exp, k=1)
            j += 1
        n.conv_bn_act(f"{p}.{j}", exp, k=k, stride=s, groups=exp)
        j += 1
        if se:
            n.se(f"{p}.{j}", make_divisible(exp // 4, 8))
            j += 1
        n.conv_bn_act(f"{p}.{j}", out, k=1, act=False)
    last_in = setting[-1][3]
    n.conv_bn_act(f"features.{len(setting) + 1}", 6 * last_in, k=1)
    n.pool()
    n.flatten()
    n.linear("classifier.0", last_channel)
    n.linear("classifier.3", classes)
    return n


B0 = [  # expand_ratio, kernel, stride, input, out, num_layers
    (1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1),
]


def efficientnet_b0(inp, classes, width=1.0, depth=1.0):
    n = Net(*inp)
    adj = lambda c, w=width: make_divisible(c * w, 8)
    setting = [(e, k, s, adj(i), adj(o), int(math.ceil(l * depth))) for e, k, s, i, o, l in B0]
    n.conv_bn_act("features.0", setting[0][3], stride=2)
    for si, (e, k, s, cin, out, layers) in enumerate(setting):
        for b in range(layers):
            c_in = cin if b == 0 else out
            stride = s if b == 0 else 1
            p = f"features.{si + 1}.{b}.block"
            exp = make_divisible(c_in * e, 8)
            j = 0
            if exp != c_in:
                n.conv_bn_act(f"{p}.{j}", exp, k=1)
                j += 1
            n.conv_bn_act(f"{p}.{j}", exp, k=k, stride=stride, groups=exp)
            n.se(f"{p}.{j + 1}", max(1, c_in // 4))
            n.conv_bn_act(f"{p}.{j + 2}", out, k=1, act=False)
    n.conv_bn_act(f"features.{len(setting) + 1}", 4 * setting[-1][4], k=1)
    n.pool()
    n.flatten()
    n.linear("classifier.1", classes)
    return n


# small_mobilenet: the depthwise-separable counterpart of small_resnet (see its .model file).
SMALL_MOBILENET = [  # expand, out, stride
    (1, 16, 1), (4, 24, 2), (4, 24, 1), (4, 48, 2), (4, 64, 1),
]


def small_mobilenet(inp, classes, last=256):
    n = Net(*inp)
    n.conv_bn_act("features.0", 16)
    c_in = 16
    for i, (t, out, s) in enumerate(SMALL_MOBILENET):
        p = f"features.{i + 1}.conv"
        hidden = c_in * t
        j = 0
        if t != 1:
            n.conv_bn_act(f"{p}.{j}", hidden, k=1)
            j += 1
        n.conv_bn_act(f"{p}.{j}", hidden, stride=s, groups=hidden)
        n.conv(f"{p}.{j + 1}", out, 1)
        n.bn(f"{p}.{j + 2}")
        c_in = out
    n.conv_bn_act(f"features.{len(SMALL_MOBILENET) + 1}", last, k=1)
    n.pool()
    n.flatten()
    n.linear("classifier.1", classes)
    return n


MODELS = {
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_small": lambda i, c: mobilenet_v3(MBV3_SMALL, make_divisible(1024, 8), i, c),
    "mobilenet_v3_large": lambda i, c: mobilenet_v3(MBV3_LARGE, make_divisible(1280, 8), i, c),
    "efficientnet_b0": efficientnet_b0,
    "small_mobilenet": small_mobilenet,
}


def main(argv):
    if len(argv) >= 3:
        name, shape, classes = argv[0], [int(x) for x in argv[1].split("x")], int(argv[2])
        n = MODELS[name](shape, classes)
        if "--layers" in argv:
            for l in n.layers:
                print(*l)
        print(f"{name} {argv[1]} classes={classes}: params {n.params:,} MACs {n.macs:,}")
        return
    cases = [((3, 224, 224), 1000), ((3, 224, 224), 10), ((3, 32, 32), 1000), ((3, 32, 32), 10),
             ((3, 96, 96), 7), ((3, 160, 128), 7)]
    for name, f in MODELS.items():
        for inp, c in ([((1, 28, 28), 10)] if name == "small_mobilenet" else cases):
            n = f(inp, c)
            print(f"{name:20} {'x'.join(map(str, inp)):10} nc={c:<5} params {n.params:>10,}  MACs {n.macs:>13,}")


if __name__ == "__main__":
    main(sys.argv[1:])
