"""PyTorch training speed of the same 1D ResNet18 as src/model/resnet1d.ts, for bench/train.ts.

Same layers (7-tap stride-2 stem, 3-tap max-pool, four stages of two BasicBlocks with 1x1
stride-2 projections, global average pooling, dense head), the same batch and input length,
Adam and cross-entropy. Prints one JSON object.
"""
import argparse
import json
import os
import time

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(cout, eps=1e-3, momentum=0.01)
        self.conv2 = nn.Conv1d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(cout, eps=1e-3, momentum=0.01)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv1d(cin, cout, 1, stride, bias=False), nn.BatchNorm1d(cout, eps=1e-3, momentum=0.01))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.proj is None else self.proj(x)))


class ResNet1d(nn.Module):
    def __init__(self, width, classes=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(1, width, 7, 2, 3, bias=False), nn.BatchNorm1d(width, eps=1e-3, momentum=0.01), nn.ReLU(), nn.MaxPool1d(3, 2, 1))
        blocks, cin = [], width
        for s, mult in enumerate([1, 2, 4, 8]):
            for b in range(2):
                blocks.append(BasicBlock(cin, width * mult, 2 if s > 0 and b == 0 else 1))
                cin = width * mult
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean(dim=2))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--length", type=int, default=2600)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = ResNet1d(a.width)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(a.batch, 1, a.length)
    y = torch.arange(a.batch) % 3

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    model.train()
    for _ in range(a.warmup):
        step()
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(a.steps):
        step()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "spectra_per_s": a.batch * a.steps / seconds,
                      "spectra_per_cpu_s": a.batch * a.steps / cpu_seconds, "steps": a.steps}))


if __name__ == "__main__":
    main()
