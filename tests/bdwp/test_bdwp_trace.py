"""Tracing a torch model gives the same training GEMMs as the built-in workload."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from sparseforge.sim.bdwp.trace import trace_workload  # noqa: E402
from sparseforge.workloads import get_workload  # noqa: E402


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """Written here from the ResNet paper's Table 1 (18-layer column)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], 64
        for i, width in enumerate((64, 128, 256, 512)):
            blocks = [BasicBlock(cin, width, 1 if i == 0 else 2), BasicBlock(width, width, 1)]
            stages.append(nn.Sequential(*blocks))
            cin = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _rename(name):
    return name.replace(".downsample.0", ".downsample")


def test_traced_resnet18_equals_builtin_workload():
    traced = trace_workload(ResNet18(), (3, 224, 224), batch=4, name="resnet18")
    builtin = get_workload("resnet18", batch=4)
    got = sorted((_rename(g.layer), g.phase, g.m, g.k, g.n, g.sparse, g.group_len)
                 for g in traced.gemms())
    want = sorted((g.layer, g.phase, g.m, g.k, g.n, g.sparse, g.group_len)
                  for g in builtin.gemms())
    assert got == want
    assert traced.macs() == builtin.macs()


def test_linear_tokens_and_errors():
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
    wl = trace_workload(model, (10, 16), batch=3)
    ff = [g for g in wl.gemms() if g.phase == "FF"]
    assert [(g.m, g.k, g.n) for g in ff] == [(30, 16, 32), (30, 32, 8)]
    assert [g.phase for g in wl.gemms() if g.layer == "0"] == ["FF", "WU"]
    with pytest.raises(ValueError, match=r"layer '0': groups = 4"):
        trace_workload(nn.Sequential(nn.Conv2d(8, 8, 3, groups=4)), (8, 8, 8))
    with pytest.raises(ValueError, match="no nn.Linear or nn.Conv2d"):
        trace_workload(nn.Sequential(nn.ReLU()), (4,))
