"""The classic mistakes of issue #12, as wrong answers pasted into the week-1 notebook's answer cells.

One definition for everything that grades or runs them: tests/test_release_run_all.py (Run All in a
real kernel with the mistakes pasted into the student release) and bench/mistakes.py (what each one
costs under the real graders). ``MISTAKES`` maps a mistake to the answer cell (grade_id) it replaces and
that cell's new source (None: the release's own stub, left untouched); ``CLASSIC`` names the eleven of
the issue, in its order. Each mistake touches one function, the rest of the notebook is the reference.
"""
from __future__ import annotations

from autograder.engine.notebook import cells_by_grade_id

_CONV_LOOP = '''
    image = F.pad(image, (padding, padding, padding, padding))
    kh, kw = kernel.shape
    rows = (image.shape[0] - kh) // stride + 1
    cols = (image.shape[1] - kw) // stride + 1
    out = torch.zeros(rows, cols)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = (image[i * stride:i * stride + kh, j * stride:j * stride + kw] * kernel).sum()
    return out
'''
MISTAKES = {  # mistake -> (the answer cell it replaces, that cell's new source)
    "flipped kernel": ("conv2d_single", "def conv2d_single(image, kernel, stride=1, padding=0):\n"
                                        "    kernel = kernel.flip(0, 1)" + _CONV_LOOP),
    "missing +1 in the output size": ("conv_output_size", "def conv_output_size(n, f, padding=0, stride=1):\n"
                                                          "    return (n + 2 * padding - f) // stride\n"),
    "pooling without stride": ("max_pool2d", """def max_pool2d(x, size=2, stride=2):
    rows, cols = x.shape[-2] - size + 1, x.shape[-1] - size + 1
    out = torch.zeros(*x.shape[:-2], rows, cols)
    for i in range(rows):
        for j in range(cols):
            out[..., i, j] = x[..., i:i + size, j:j + size].amax(dim=(-2, -1))
    return out
"""),
    "no zero_grad": ("train_one_epoch", """def train_one_epoch(model, loader, criterion, optimizer, device="cpu"):
    model.train()
    total, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        logits = model(images)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        total += loss.item()
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
    return total / len(loader), 100.0 * correct / seen
"""),
    "evaluate without eval or no_grad": ("evaluate", """def evaluate(model, loader, device="cpu"):
    correct, seen = 0, 0
    for images, labels in loader:
        correct += (model(images).argmax(1) == labels).sum().item()
        seen += len(labels)
    return 100.0 * correct / seen
"""),
    "one-sided padding": ("zero_pad", """def zero_pad(x, pad):
    if pad < 0:
        raise ValueError("negative pad")
    out = torch.zeros(*x.shape[:-2], x.shape[-2] + pad, x.shape[-1] + pad, dtype=x.dtype)
    out[..., :x.shape[-2], :x.shape[-1]] = x
    return out
"""),
    "wrong fc1 in_features": ("SimpleCNN", """class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.pool1 = nn.Conv2d(1, 6, 5, padding=2), nn.MaxPool2d(2, 2)
        self.conv2, self.pool2 = nn.Conv2d(6, 16, 5), nn.MaxPool2d(2, 2)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 4 * 4, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))
"""),
    "a stub left": ("feature_maps", None),  # the release's own stub, untouched
    "a raising conv2d_single": ("conv2d_single", """def conv2d_single(image, kernel, stride=1, padding=0):
    kh, kw = kernel.shape
    out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum()
    return out
"""),
    "a syntax error in one cell": ("avg_pool2d", "def avg_pool2d(x, size=2, stride=2)\n    return x\n"),
    "a ReLU module the model does not have": ("feature_maps", """def feature_maps(model, image):
    with torch.no_grad():
        conv1 = model.relu(model.conv1(image))
        pool1 = model.pool1(conv1)
        return {"conv1": conv1, "pool1": pool1, "conv2": model.relu(model.conv2(pool1))}
"""),
}


MISTAKES["square-only conv2d_volume"] = ("conv2d_volume", """def conv2d_volume(volume, filters, bias=None, stride=1, padding=0):
    if padding > 0:
        volume = F.pad(volume, (padding, padding, padding, padding))
    n_filters, channels, k, _ = filters.shape
    size = (volume.shape[1] - k) // stride + 1  # the lesson's images are all square
    out = torch.zeros(n_filters, size, size)
    for f in range(n_filters):
        for i in range(size):
            for j in range(size):
                out[f, i, j] = (volume[:, i * stride:i * stride + k, j * stride:j * stride + k] * filters[f]).sum()
        if bias is not None:
            out[f] += bias[f]
    return out
""")
MISTAKES["model.eval() inside feature_maps"] = ("feature_maps", """def feature_maps(model, image):
    model.eval()  # as the tutorial does before looking inside
    with torch.no_grad():
        conv1 = F.relu(model.conv1(image.unsqueeze(0)))
        pool1 = model.pool1(conv1)
        conv2 = F.relu(model.conv2(pool1))
    return {"conv1": conv1[0], "pool1": pool1[0], "conv2": conv2[0]}
""")

# The eleven mistakes of issue #12, in its order.
CLASSIC = ("flipped kernel", "missing +1 in the output size", "one-sided padding", "pooling without stride",
           "wrong fc1 in_features", "no zero_grad", "evaluate without eval or no_grad", "a stub left",
           "a syntax error in one cell", "square-only conv2d_volume", "model.eval() inside feature_maps")


def apply_mistakes(notebook, mistakes, answers: dict[str, str]) -> None:
    """Fill ``notebook``'s answer cells (parsed JSON or nbformat) with ``answers`` (grade_id -> source),
    except the functions of ``mistakes``, which get the mistake's source (or keep the release's stub)."""
    wrong = {MISTAKES[name][0]: MISTAKES[name][1] for name in mistakes}
    assert len(wrong) == len(mistakes), mistakes  # one mistake per function
    for name, cell in cells_by_grade_id(notebook).items():
        if name in answers:
            source = wrong.get(name, answers[name])
            if source is not None:
                cell["source"] = source

