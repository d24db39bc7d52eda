"""Reference implementation the corpus cases are built from (tests/corpus/cases.py).

A self-contained copy of the solution cells of source/cnn_week1/cnn_week1.ipynb, kept here so that
every corpus case is one small, exact text substitution on a file this test suite owns: a change to
the instructor notebook cannot silently turn a case's bug into a no-op (cases.py checks that each
substitution matches exactly once).
"""
# --- cell imports ---
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# --- cell vertical_edge_filter ---
def vertical_edge_filter():
    """The 3×3 vertical edge detector.

    Returns:
        float32 tensor of shape (3, 3):
            [[1, 0, -1],
             [1, 0, -1],
             [1, 0, -1]]
        (left column minus right column: responds where brightness changes from left to right).
    """
    one_row = [1.0, 0.0, -1.0]
    return torch.tensor([one_row] * 3, dtype=torch.float32)


# --- cell horizontal_edge_filter ---
def horizontal_edge_filter():
    """The 3×3 horizontal edge detector.

    Returns:
        float32 tensor of shape (3, 3):
            [[ 1,  1,  1],
             [ 0,  0,  0],
             [-1, -1, -1]]
        (top row minus bottom row: responds where brightness changes from top to bottom).
    """
    column = torch.tensor([1.0, 0.0, -1.0]).view(3, 1)  # (3, 1)
    return column.expand(3, 3).clone().to(torch.float32)


# --- cell sobel_filter ---
def sobel_filter(direction="horizontal"):
    """The 3×3 Sobel filter: an edge detector whose middle row/column counts twice.

    Args:
        direction: "horizontal" or "vertical" (exactly these lowercase strings).

    Returns:
        float32 tensor of shape (3, 3):
            "horizontal": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
            "vertical":   [[1, 0, -1], [2, 0, -2], [1, 0, -1]]

    Raises:
        ValueError: for any other value of `direction`.
    """
    horizontal = torch.tensor([[1.0, 2.0, 1.0],
                               [0.0, 0.0, 0.0],
                               [-1.0, -2.0, -1.0]])
    if isinstance(direction, str) and direction == "horizontal":
        return horizontal
    if isinstance(direction, str) and direction == "vertical":
        return horizontal.t().contiguous()  # the vertical Sobel filter is the transpose
    raise ValueError(f'direction must be "horizontal" or "vertical", not {direction!r}')


# --- cell conv2d_single ---
def conv2d_single(image, kernel, stride=1, padding=0):
    """Convolve one single-channel image with one kernel (cross-correlation: the kernel is NOT flipped).

    Args:
        image:   tensor of shape (H, W).
        kernel:  tensor of shape (kh, kw).
        stride:  int >= 1, the step between two filter positions, the same along both axes.
        padding: int >= 0, rings of zeros added on all four sides before convolving.

    Returns:
        float32 tensor of shape (H', W') with
            H' = floor((H + 2*padding - kh) / stride) + 1
            W' = floor((W + 2*padding - kw) / stride) + 1
        out[i, j] = sum over a, b of padded[i*stride + a, j*stride + b] * kernel[a, b].

    By hand: no F.conv2d / torch.conv2d / nn.Conv2d / unfold. F.pad is allowed.
    """
    out = None  # (H', W')
    picture = torch.as_tensor(image).to(torch.float32)
    weights = torch.as_tensor(kernel).to(torch.float32)
    if padding > 0:
        picture = F.pad(picture, (padding, padding, padding, padding))  # zeros on all four sides
    kh, kw = weights.shape
    out_h = (picture.shape[0] - kh) // stride + 1
    out_w = (picture.shape[1] - kw) // stride + 1
    out = torch.zeros(out_h, out_w, dtype=torch.float32)
    # One step per kernel weight: the strided slice starting at (a, b) holds every pixel that
    # weight k[a, b] multiplies, one per output position.
    for a in range(kh):
        for b in range(kw):
            touched = picture[a:a + stride * (out_h - 1) + 1:stride,
                              b:b + stride * (out_w - 1) + 1:stride]  # (H', W')
            out += weights[a, b] * touched
    return out


# --- cell conv2d_volume ---
def conv2d_volume(volume, filters, bias=None, stride=1, padding=0):
    """Convolve a multi-channel volume with several filters (no kernel flip), adding one bias per filter.

    Args:
        volume:  tensor of shape (C, H, W).
        filters: tensor of shape (F, C, kh, kw); filter f spans all C channels.
        bias:    tensor of shape (F,), or None for no bias.
        stride:  int >= 1.
        padding: int >= 0, zeros on all four sides of every channel.

    Returns:
        float32 tensor of shape (F, H', W') with
            H' = floor((H + 2*padding - kh) / stride) + 1
            W' = floor((W + 2*padding - kw) / stride) + 1
        out[f, i, j] = bias[f] + sum over c, a, b of padded[c, i*stride + a, j*stride + b] * filters[f, c, a, b].

    By hand: no F.conv2d / torch.conv2d / nn.Conv2d / unfold. F.pad, einsum, matmul are allowed.
    """
    out = None  # (F, H', W')
    stack = torch.as_tensor(volume).to(torch.float32)          # (C, H, W)
    bank = torch.as_tensor(filters).to(torch.float32)          # (F, C, kh, kw)
    if padding > 0:
        stack = F.pad(stack, (padding, padding, padding, padding))
    n_filters, _, kh, kw = bank.shape
    out_h = (stack.shape[1] - kh) // stride + 1
    out_w = (stack.shape[2] - kw) // stride + 1
    out = torch.zeros(n_filters, out_h, out_w, dtype=torch.float32)
    for a in range(kh):
        for b in range(kw):
            touched = stack[:, a:a + stride * (out_h - 1) + 1:stride,
                            b:b + stride * (out_w - 1) + 1:stride]    # (C, H', W')
            # For every filter f: sum over channels c of bank[f, c, a, b] * touched[c].
            out += torch.einsum("fc,chw->fhw", bank[:, :, a, b], touched)
    if bias is not None:
        out += torch.as_tensor(bias).to(torch.float32).view(-1, 1, 1)  # one number per filter map
    return out


# --- cell conv_output_size ---
def conv_output_size(n, f, padding=0, stride=1):
    """Side length of a convolution (or pooling) output along one axis.

    Args:
        n:       int, input size along the axis.
        f:       int, filter (window) size along the axis.
        padding: int, zeros added on each side.
        stride:  int, step between filter positions.

    Returns:
        int: floor((n + 2*padding - f) / stride) + 1   (Python's // on integers)

    Raises:
        ValueError: if f < 1, stride < 1, padding < 0, or the result would be smaller than 1
                    (the filter does not fit in the padded input).
    """
    if f < 1:
        raise ValueError(f"filter size must be at least 1, got {f}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding cannot be negative, got {padding}")
    size = (n + 2 * padding - f) // stride + 1
    if size < 1:
        raise ValueError(f"a filter of size {f} does not fit in an input of size {n} padded by {padding}")
    return int(size)


# --- cell same_padding ---
def same_padding(f):
    """Padding that keeps the output size equal to the input size at stride 1.

    Args:
        f: int, odd and positive filter size.

    Returns:
        int: (f - 1) // 2   (from n + 2p - f + 1 = n)

    Raises:
        ValueError: if f is even or not positive (no whole number of rings works).
    """
    if f < 1 or f % 2 == 0:
        raise ValueError(f"'same' padding needs an odd, positive filter size; got {f}")
    return (f - 1) // 2


# --- cell zero_pad ---
def zero_pad(x, pad):
    """Surround the last two dimensions of x with `pad` rings of zeros.

    Args:
        x:   tensor of shape (..., H, W): (H, W), (C, H, W), (N, C, H, W), ... any leading dims.
        pad: int >= 0, rings of zeros on each of the four sides.

    Returns:
        tensor of shape (..., H + 2*pad, W + 2*pad), same dtype as x, with x in the middle;
        pad = 0 returns a tensor equal to x.

    Raises:
        ValueError: if pad is negative.

    No F.pad / numpy.pad here: allocate zeros and copy.
    """
    if pad < 0:
        raise ValueError(f"pad cannot be negative, got {pad}")
    x = torch.as_tensor(x)
    *leading, height, width = x.shape
    framed = x.new_zeros(*leading, height + 2 * pad, width + 2 * pad)  # same dtype and device as x
    framed[..., pad:pad + height, pad:pad + width] = x
    return framed


# --- cell max_pool2d ---
def max_pool2d(x, size=2, stride=2):
    """Max pooling, channel by channel, no padding.

    Args:
        x:      tensor of shape (H, W) or (C, H, W).
        size:   int, side of the square window.
        stride: int, step between windows.

    Returns:
        float32 tensor of shape (H', W') or (C, H', W') (same number of dims as x) with
            H' = floor((H - size) / stride) + 1,  W' = floor((W - size) / stride) + 1
        out[..., i, j] = max of x[..., i*stride : i*stride + size, j*stride : j*stride + size].

    By hand: no F.max_pool2d / nn.MaxPool2d / unfold.
    """
    out = None
    values = torch.as_tensor(x).to(torch.float32)
    out_h = (values.shape[-2] - size) // stride + 1
    out_w = (values.shape[-1] - size) // stride + 1
    # Each offset (a, b) inside the window gives one strided view; the maximum over the
    # size*size views is the maximum over each window.
    for a in range(size):
        for b in range(size):
            view = values[..., a:a + stride * (out_h - 1) + 1:stride,
                          b:b + stride * (out_w - 1) + 1:stride]  # (..., H', W')
            out = view.clone() if out is None else torch.maximum(out, view)
    return out


# --- cell avg_pool2d ---
def avg_pool2d(x, size=2, stride=2):
    """Average pooling, channel by channel, no padding.

    Args:
        x:      tensor of shape (H, W) or (C, H, W).
        size:   int, side of the square window.
        stride: int, step between windows.

    Returns:
        float32 tensor of shape (H', W') or (C, H', W') (same number of dims as x) with
            H' = floor((H - size) / stride) + 1,  W' = floor((W - size) / stride) + 1
        out[..., i, j] = mean of x[..., i*stride : i*stride + size, j*stride : j*stride + size].

    By hand: no F.avg_pool2d / nn.AvgPool2d / unfold.
    """
    out = None
    values = torch.as_tensor(x).to(torch.float32)
    out_h = (values.shape[-2] - size) // stride + 1
    out_w = (values.shape[-1] - size) // stride + 1
    total = torch.zeros(*values.shape[:-2], out_h, out_w, dtype=torch.float32)
    for a in range(size):
        for b in range(size):
            total += values[..., a:a + stride * (out_h - 1) + 1:stride,
                            b:b + stride * (out_w - 1) + 1:stride]
    out = total / (size * size)
    return out


# --- cell SimpleCNN ---
class SimpleCNN(nn.Module):
    """LeNet-style CNN for 28×28 grey digits.

    Submodules (names are fixed, the grader looks them up):
        conv1 = Conv2d(1, 6, 5, padding=2)    (N, 1, 28, 28) -> (N, 6, 28, 28), then ReLU
        pool1 = MaxPool2d(2, 2)               (N, 6, 28, 28) -> (N, 6, 14, 14)
        conv2 = Conv2d(6, 16, 5)              (N, 6, 14, 14) -> (N, 16, 10, 10), then ReLU
        pool2 = MaxPool2d(2, 2)               (N, 16, 10, 10) -> (N, 16, 5, 5)
        flatten                               (N, 16, 5, 5) -> (N, 400)
        fc1 = Linear(400, 120)                then ReLU
        fc2 = Linear(120, 84)                 then ReLU
        fc3 = Linear(84, 10)                  logits, no activation
    Trainable parameters: 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        """x: (N, 1, 28, 28) float32 -> logits (N, 10)."""
        hidden = self.pool1(torch.relu(self.conv1(x)))        # (N, 6, 14, 14)
        hidden = self.pool2(torch.relu(self.conv2(hidden)))   # (N, 16, 5, 5)
        hidden = torch.flatten(hidden, start_dim=1)           # (N, 400)
        hidden = torch.relu(self.fc1(hidden))                 # (N, 120)
        hidden = torch.relu(self.fc2(hidden))                 # (N, 84)
        return self.fc3(hidden)                               # (N, 10)


# --- cell train_one_epoch ---
def train_one_epoch(model, loader, criterion, optimizer, device="cpu"):
    """Train `model` for exactly one pass over `loader`.

    Args:
        model:     nn.Module mapping images (N, 1, 28, 28) to logits (N, 10); put in training mode here.
        loader:    iterable of (images (N, 1, 28, 28) float32, labels (N,) int64) batches, with len().
        criterion: loss function, criterion(logits (N, 10), labels (N,)) -> scalar tensor.
        optimizer: a torch.optim optimizer over model's parameters; do not change its settings.
        device:    where to run ("cpu" here); move every batch there.

    Per batch: zero the gradients, forward, loss, backward, exactly one optimizer.step().

    Returns:
        (mean_loss, accuracy): Python floats;
            mean_loss = sum of per-batch loss values / number of batches,
            accuracy  = 100 * correctly predicted training images / images seen, in [0, 100].
    """
    model.train()
    loss_sum, n_batches, n_correct, n_seen = 0.0, 0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        logits = model(images)                 # (N, 10)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item()
        n_batches += 1
        n_correct += (logits.argmax(dim=1) == labels).sum().item()
        n_seen += labels.shape[0]
    return loss_sum / n_batches, 100.0 * n_correct / n_seen


# --- cell evaluate ---
def evaluate(model, loader, device="cpu"):
    """Accuracy of `model` on `loader`, in percent.

    Args:
        model:  nn.Module mapping images (N, 1, 28, 28) to logits (N, 10); put in evaluation mode here.
        loader: iterable of (images (N, 1, 28, 28), labels (N,)) batches.
        device: where to run.

    One pass, without tracking gradients (torch.no_grad()).

    Returns:
        float: 100 * correctly predicted images / all images, in [0, 100].
    """
    model.eval()
    n_correct, n_seen = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            predicted = model(images).argmax(dim=1)   # (N,)
            n_correct += (predicted == labels).sum().item()
            n_seen += labels.shape[0]
    return 100.0 * n_correct / n_seen


# --- cell feature_maps ---
def feature_maps(model, image):
    """Intermediate feature maps of one image, computed with the model's own submodules.

    Args:
        model: a SimpleCNN-like module with submodules conv1, pool1, conv2.
        image: tensor of shape (1, 28, 28): one channel, no batch dimension.

    Returns:
        dict with (no batch dimension anywhere):
            "conv1": relu(model.conv1(image))  shape (6, 28, 28)
            "pool1": model.pool1 of "conv1"    shape (6, 14, 14)
            "conv2": relu(model.conv2(pool1))  shape (16, 10, 10)
        computed under torch.no_grad(); the model's weights and train/eval mode are left unchanged.
    """
    with torch.no_grad():
        batch = image.unsqueeze(0)                    # (1, 1, 28, 28): modules expect a batch
        after_conv1 = torch.relu(model.conv1(batch))  # (1, 6, 28, 28)
        after_pool1 = model.pool1(after_conv1)        # (1, 6, 14, 14)
        after_conv2 = torch.relu(model.conv2(after_pool1))  # (1, 16, 10, 10)
    return {"conv1": after_conv1[0], "pool1": after_pool1[0], "conv2": after_conv2[0]}
