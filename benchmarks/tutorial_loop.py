"""The usual tutorial loop, as a baseline for `python -m lenet bench`: one epoch of classic
LeNet-5 with torchvision's MNIST dataset, per-sample transforms and a shuffling DataLoader.

It deliberately imports nothing from lenet (the network is written out here) so the comparison
measures the data pipeline and loop, not a different model. Prints one JSON line.
"""

import json
import sys
import time

t_start = time.perf_counter()
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torchvision import datasets, transforms  # noqa: E402

root, batch_size, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
tf = transforms.Compose(
    [transforms.Pad(2), transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
)
train = datasets.MNIST(root, train=True, download=False, transform=tf)
test = datasets.MNIST(root, train=False, download=False, transform=tf)
loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True)
model = nn.Sequential(
    nn.Conv2d(1, 6, 5),
    nn.Tanh(),
    nn.AvgPool2d(2),
    nn.Tanh(),
    nn.Conv2d(6, 16, 5),
    nn.Tanh(),
    nn.AvgPool2d(2),
    nn.Tanh(),
    nn.Conv2d(16, 120, 5),
    nn.Tanh(),
    nn.Flatten(),
    nn.Linear(120, 84),
    nn.Tanh(),
    nn.Linear(84, 10),
)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
t0 = time.perf_counter()
for x, y in loader:
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
train_s = time.perf_counter() - t0
model.eval()
correct = 0
with torch.no_grad():
    for x, y in torch.utils.data.DataLoader(test, batch_size=1000):
        correct += (model(x).argmax(1) == y).sum().item()
print(
    json.dumps(
        {
            "train_seconds": train_s,
            "test_accuracy": correct / 100,
            "wall_seconds_inside": time.perf_counter() - t_start,
        }
    )
)
