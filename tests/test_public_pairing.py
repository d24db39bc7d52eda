"""Every hidden grader test has a public twin of the same kind (issue #12, item 2).

A student who passes every public check may still lose hidden points to a data-specific bug (the
hidden graders use other sizes, seeds and weights), but never to a *kind* of case the public checks
never showed: rectangular inputs, several channels, strides that do not divide, a model in training
mode, and so on.

PAIRING below is the declarative table: each grader test (by its function name, the name pytest
gives it) -> the public checks that are its twins and the kinds of case they share. It is proved:

(a) the table names every grader test there is (collected from the graders folder, wherever the
    engine keeps it) and nothing else, and only public checks of the same part;
(b) each kind is shown by at least one classic mistake of that kind (MUTATIONS: the reference
    solution with one function changed): the public check of that function fails on it, with a hint
    naming the mistake where the mutation says one, while the reference passes every public check;
(c) the hidden graders fail each mutation too, in the tests the mutation lists, so the kinds are
    real: each mistake below costs hidden points and is shown publicly first.
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from test_public_vs_hidden import REFERENCE, load_public_checks, run_part

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "cnn_week1"
SLOW_GRADER_TESTS = {"test_accuracy_gate"}  # trains on MNIST for a minute: not run in (c)


def graders_dir() -> Path:
    """The hidden graders' folder: autograder/graders today, autograder/assignments/<name>/graders
    after the engine's restructuring; whichever holds test_*.py files (this assignment's if several)."""
    found = sorted({path.parent for path in REPO.glob("autograder/**/graders/test_*.py")})
    if len(found) > 1:
        found = [folder for folder in found if ASSIGNMENT in folder.parts] or found
    assert len(found) == 1, f"expected one graders folder under autograder/, found {found}"
    return found[0]


@dataclass(frozen=True)
class GraderTest:
    function: str  # what pytest calls it (and what --select matches)
    name: str  # what results.json calls it: the first line of its docstring
    part: str
    module: str


def grader_tests(folder: Path | None = None) -> dict[str, GraderTest]:
    """Every hidden test function under the graders folder, read with ast (no import, no sandbox)."""
    tests = {}
    for path in sorted((folder or graders_dir()).glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        part = next((call.args[0].value for node in tree.body if isinstance(node, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
                     for call in ast.walk(node.value) if isinstance(call, ast.Call)
                     and isinstance(call.func, ast.Attribute) and call.func.attr == "part" and call.args), None)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                doc = (ast.get_docstring(node) or "").strip()
                assert node.name not in tests, f"two grader tests named {node.name}"
                tests[node.name] = GraderTest(node.name, doc.splitlines()[0].strip() if doc else node.name,
                                              part, path.name)
    return tests


# ----- the kinds of case -----------------------------------------------------------------------

VALUES = "the exact values"
FLOAT32 = "a float32 result"
DEFAULT_ARGUMENT = "a call that relies on the default arguments"
OTHER_WORD = "ValueError for another word"
CAPITALS_SPACES = "ValueError for other capitals or surrounding spaces"
PARTIAL_STRING = "ValueError for an empty or partial string"
LESSON_IMAGES = "the lesson's images"
PADDING = "padding"
STRIDE = "stride"
RECTANGULAR_INPUT = "rectangular input (taller and wider)"
RECTANGULAR_KERNEL = "rectangular kernel (kh != kw)"
BIGGER_STRIDE_PADDING = "strides and paddings beyond the lesson's (3 and 2)"
KERNEL_TALLER_THAN_INPUT = "a kernel larger than the input that fits after padding"
POSITIONAL = "stride, padding (and bias) passed by position"
BY_HAND = "no library routine"
SEVERAL_CHANNELS = "several input channels"
ONE_CHANNEL = "one input channel"
ONE_FILTER = "one filter"
BIAS = "a bias tensor"
NO_BIAS = "bias None, or left out"
FORMULA = "the size formula"
FLOOR = "a stride that does not divide (rounding down)"
KEYWORDS = "keyword arguments"
INT_RESULT = "an int result"
FILTER_FITS_AFTER_PADDING = "a filter wider than the input that fits after padding (output 1)"
BAD_FILTER = "ValueError for a filter size below 1 (negative too)"
BAD_STRIDE = "ValueError for a stride below 1 (negative too)"
BAD_PADDING = "ValueError for a negative padding"
EMPTY_OUTPUT = "ValueError for an empty output"
EMPTY_AT_STRIDE = "ValueError for an empty output at stride > 1 (// versus int())"
VALID_EDGES = "no error for valid edge cases (output size 1)"
EVEN_SIZE = "ValueError for an even size"
SIZE_BELOW_ONE = "ValueError for a size below 1 (zero, negative odd)"
TWO_D = "2-D input"
THREE_D = "3-D input"
FOUR_D = "4-D input"
ALL_SIDES = "zeros on all four sides"
SEVERAL_RINGS = "padding of several rings"
LEADING_KEPT = "leading dimensions left unpadded"
INT64 = "an int64 input keeps its dtype"
PAD_ZERO = "pad 0"
NEGATIVE_PAD = "ValueError for a negative pad"
NEGATIVE_VALUES = "negative values"
STRIDE_NOT_SIZE = "stride different from the window (overlaps, gaps)"
WINDOW_MEAN = "the mean of each window"
DEFAULT_POOLING = "the default size and stride"
LAYER_TYPES = "layer types"
LAYER_SETTINGS = "layer settings"
PARAMETER_COUNTS = "parameter counts"
BATCH_OF_SEVERAL = "a batch of several images"
BATCH_OF_ONE = "a batch of one image"
LOGITS = "logits: ReLUs where the lesson puts them, no softmax"
CONTRACT_WEIGHTS = "logits with the contract's weights loaded"
CONTRACT_LOOP = "the weights after training equal the contract's loop (SGD with momentum)"
LEFT_OVER_GRADIENTS = "a model that comes with gradients left over"
ZERO_BEFORE_BACKWARD = "zero_grad before each backward"
ONE_BACKWARD_ONE_STEP = "one backward and one step per batch"
TRAIN_MODE = "a model that comes in evaluation mode is trained in training mode"
PLAIN_MEAN = "the plain mean loss over batches of unequal size"
PERCENT = "an accuracy in percent"
ONE_PASS = "one pass over a loader that counts its passes"
OPTIMIZER_AS_GIVEN = "the optimizer left as given"
SHUFFLED_EPOCHS = "the loader's own order, reshuffled at every pass, over several calls"
EVAL_MODE = "a model that comes in training mode is evaluated in evaluation mode"
NO_GRAD = "no gradient tracking"
KEYS = "the keys conv1, pool1, conv2"
NO_BATCH_DIM = "no batch dimension"
MAP_VALUES = "the maps: ReLU, pooling, conv2 in order"
FROM_TRAIN_MODE = "a model in training mode stays in training mode"
FROM_EVAL_MODE = "a model in evaluation mode stays in evaluation mode"
WEIGHTS_KEPT = "the model's weights left unchanged"


@dataclass(frozen=True)
class Twin:
    public: tuple[str, ...]  # the public checks (contract names) that run the same kinds
    kinds: tuple[str, ...]


# The table: every hidden grader test -> its public twins and the kinds of case they share.
PAIRING: dict[str, Twin] = {
    # part manual_conv
    "test_vertical_edge_filter": Twin(("vertical_edge_filter",), (VALUES, FLOAT32)),
    "test_horizontal_edge_filter": Twin(("horizontal_edge_filter",), (VALUES, FLOAT32)),
    "test_sobel_filter": Twin(("sobel_filter",), (VALUES, FLOAT32, DEFAULT_ARGUMENT)),
    "test_sobel_filter_rejects_other_directions": Twin(("sobel_filter",), (OTHER_WORD, CAPITALS_SPACES,
                                                                           PARTIAL_STRING)),
    "test_conv2d_single_lesson_examples": Twin(("conv2d_single",), (LESSON_IMAGES, PADDING, STRIDE)),
    "test_conv2d_single_random": Twin(("conv2d_single",), (RECTANGULAR_INPUT, RECTANGULAR_KERNEL,
                                                          BIGGER_STRIDE_PADDING, KERNEL_TALLER_THAN_INPUT,
                                                          POSITIONAL, PADDING, STRIDE)),
    "test_conv2d_single_by_hand": Twin(("conv2d_single",), (BY_HAND,)),
    "test_conv2d_volume_random": Twin(("conv2d_volume",), (SEVERAL_CHANNELS, ONE_CHANNEL, ONE_FILTER,
                                                          RECTANGULAR_INPUT, RECTANGULAR_KERNEL, BIAS, NO_BIAS,
                                                          BIGGER_STRIDE_PADDING, KERNEL_TALLER_THAN_INPUT,
                                                          POSITIONAL)),
    "test_conv2d_volume_by_hand": Twin(("conv2d_volume",), (BY_HAND,)),
    # part output_size
    "test_conv_output_size_table": Twin(("conv_output_size",), (FORMULA, FLOOR, DEFAULT_ARGUMENT, KEYWORDS,
                                                                INT_RESULT, FILTER_FITS_AFTER_PADDING, VALID_EDGES)),
    "test_conv_output_size_errors": Twin(("conv_output_size",), (BAD_FILTER, BAD_STRIDE, BAD_PADDING, EMPTY_OUTPUT,
                                                                 EMPTY_AT_STRIDE, VALID_EDGES, KEYWORDS,
                                                                 FILTER_FITS_AFTER_PADDING)),
    "test_same_padding": Twin(("same_padding",), (FORMULA, INT_RESULT)),
    "test_same_padding_errors": Twin(("same_padding",), (EVEN_SIZE, SIZE_BELOW_ONE)),
    "test_zero_pad_shapes_and_values": Twin(("zero_pad",), (TWO_D, THREE_D, FOUR_D, RECTANGULAR_INPUT, ALL_SIDES,
                                                            SEVERAL_RINGS, LEADING_KEPT)),
    "test_zero_pad_dtype_and_pad_zero": Twin(("zero_pad",), (INT64, PAD_ZERO)),
    "test_zero_pad_negative": Twin(("zero_pad",), (NEGATIVE_PAD,)),
    "test_zero_pad_by_hand": Twin(("zero_pad",), (BY_HAND,)),
    # part pooling
    "test_max_pool2d_random": Twin(("max_pool2d",), (TWO_D, THREE_D, RECTANGULAR_INPUT, STRIDE_NOT_SIZE, FLOOR,
                                                    NEGATIVE_VALUES)),
    "test_avg_pool2d_random": Twin(("avg_pool2d",), (TWO_D, THREE_D, RECTANGULAR_INPUT, STRIDE_NOT_SIZE, FLOOR,
                                                    WINDOW_MEAN)),
    "test_pooling_lesson_example": Twin(("max_pool2d", "avg_pool2d"), (DEFAULT_POOLING, TWO_D, THREE_D,
                                                                       NEGATIVE_VALUES, WINDOW_MEAN)),
    "test_max_pool2d_by_hand": Twin(("max_pool2d",), (BY_HAND,)),
    "test_avg_pool2d_by_hand": Twin(("avg_pool2d",), (BY_HAND,)),
    # part simple_cnn
    "test_simple_cnn_layers": Twin(("SimpleCNN",), (LAYER_TYPES, LAYER_SETTINGS)),
    "test_simple_cnn_parameters": Twin(("SimpleCNN",), (PARAMETER_COUNTS,)),
    "test_simple_cnn_shapes": Twin(("SimpleCNN",), (BATCH_OF_SEVERAL, BATCH_OF_ONE)),
    "test_simple_cnn_forward": Twin(("SimpleCNN",), (LOGITS, CONTRACT_WEIGHTS, BATCH_OF_SEVERAL)),
    # part training_loop
    "test_train_one_epoch_weights": Twin(("train_one_epoch",), (CONTRACT_LOOP, LEFT_OVER_GRADIENTS,
                                                               ZERO_BEFORE_BACKWARD, ONE_BACKWARD_ONE_STEP)),
    "test_train_one_epoch_returns": Twin(("train_one_epoch",), (PLAIN_MEAN, PERCENT, ZERO_BEFORE_BACKWARD)),
    "test_train_one_epoch_steps": Twin(("train_one_epoch",), (TRAIN_MODE, ZERO_BEFORE_BACKWARD,
                                                             LEFT_OVER_GRADIENTS, ONE_BACKWARD_ONE_STEP,
                                                             ONE_PASS)),
    "test_train_one_epoch_one_pass": Twin(("train_one_epoch",), (ONE_PASS, OPTIMIZER_AS_GIVEN)),
    "test_evaluate_accuracy": Twin(("evaluate",), (PERCENT, PLAIN_MEAN)),
    "test_evaluate_mode": Twin(("evaluate",), (EVAL_MODE, NO_GRAD, ONE_PASS)),
    "test_accuracy_gate": Twin(("train_one_epoch",), (CONTRACT_LOOP, SHUFFLED_EPOCHS, ZERO_BEFORE_BACKWARD)),
    # part feature_maps
    "test_feature_maps_keys_and_shapes": Twin(("feature_maps",), (KEYS, NO_BATCH_DIM)),
    "test_feature_maps_values": Twin(("feature_maps",), (MAP_VALUES, KEYS, NO_BATCH_DIM, FROM_EVAL_MODE,
                                                        FROM_TRAIN_MODE)),
    "test_feature_maps_leaves_model_unchanged": Twin(("feature_maps",), (FROM_TRAIN_MODE, FROM_EVAL_MODE, NO_GRAD,
                                                                        WEIGHTS_KEPT)),
}


# ----- the classic mistakes, one kind each (or a few) ---------------------------------------------

@dataclass(frozen=True)
class Mutation:
    id: str
    function: str  # the contract name whose cell changes
    edits: tuple[tuple[str, str], ...]  # (text of the reference cell, its replacement), each found once
    kinds: tuple[str, ...]
    hidden: tuple[str, ...]  # grader tests it must fail
    says: str | None = None  # words the public check's message must contain (the hint naming the mistake)


def M(id, function, edits, kinds, hidden, says=None) -> Mutation:  # noqa: N802 (a table row)
    return Mutation(id, function, tuple(edits), tuple(kinds) if isinstance(kinds, tuple) else (kinds,),
                    tuple(hidden) if isinstance(hidden, tuple) else (hidden,), says)


_SINGLE_TOP = "    out = None  # (H', W')\n"
_VOLUME_TOP = "    out = None  # (F, H', W')\n"
_POOL_TOP = "    out = None\n    values = torch.as_tensor(x).to(torch.float32)\n"
_TRAIN_LOOP = "    for images, labels in loader:\n"
MUTATIONS: list[Mutation] = [
    # --- filters
    M("vertical transposed", "vertical_edge_filter", [("[one_row] * 3, dtype=torch.float32)",
                                                      "[one_row] * 3, dtype=torch.float32).t()")],
      VALUES, "test_vertical_edge_filter", "rows and columns seem swapped"),
    M("vertical float64", "vertical_edge_filter", [("dtype=torch.float32", "dtype=torch.float64")],
      FLOAT32, "test_vertical_edge_filter", "expected torch.float32"),
    M("horizontal signs", "horizontal_edge_filter", [("[1.0, 0.0, -1.0]).view", "[-1.0, 0.0, 1.0]).view")],
      VALUES, "test_horizontal_edge_filter", "signs seem reversed"),
    M("horizontal float64", "horizontal_edge_filter", [(".to(torch.float32)", ".to(torch.float64)")],
      FLOAT32, "test_horizontal_edge_filter", "expected torch.float32"),
    M("sobel vertical untransposed", "sobel_filter", [("return horizontal.t().contiguous()", "return horizontal")],
      VALUES, "test_sobel_filter"),
    M("sobel float64", "sobel_filter", [("[-1.0, -2.0, -1.0]])", "[-1.0, -2.0, -1.0]], dtype=torch.float64)")],
      FLOAT32, "test_sobel_filter", "expected torch.float32"),
    M("sobel default vertical", "sobel_filter", [('def sobel_filter(direction="horizontal"):',
                                                  'def sobel_filter(direction="vertical"):')],
      DEFAULT_ARGUMENT, "test_sobel_filter", "default direction"),
    M("sobel anything else is horizontal", "sobel_filter",
      [("raise ValueError(f'direction must be \"horizontal\" or \"vertical\", not {direction!r}')", "return horizontal")],
      OTHER_WORD, "test_sobel_filter_rejects_other_directions", "expected ValueError"),
    M("sobel lower and strip", "sobel_filter",
      [('    if isinstance(direction, str) and direction == "horizontal":',
        '    direction = direction.lower().strip()\n    if isinstance(direction, str) and direction == "horizontal":')],
      CAPITALS_SPACES, "test_sobel_filter_rejects_other_directions", ".lower() or .strip()"),
    M("sobel substring test", "sobel_filter", [('direction == "horizontal"', 'direction in "horizontal"'),
                                               ('direction == "vertical"', 'direction in "vertical"')],
      PARTIAL_STRING, "test_sobel_filter_rejects_other_directions", "not with `in`"),
    # --- conv2d_single
    M("single flipped kernel", "conv2d_single", [("out += weights[a, b] * touched",
                                                  "out += weights[kh - 1 - a, kw - 1 - b] * touched")],
      LESSON_IMAGES, "test_conv2d_single_lesson_examples", "flipped"),
    M("single one-sided padding", "conv2d_single",
      [("(padding, padding, padding, padding))  # zeros on all four sides", "(0, 2 * padding, 0, 2 * padding))")],
      PADDING, ("test_conv2d_single_lesson_examples", "test_conv2d_single_random"), "bottom and right only"),
    M("single windows move by 1", "conv2d_single",
      [("picture[a:a + stride * (out_h - 1) + 1:stride,", "picture[a:a + out_h,"),
       ("b:b + stride * (out_w - 1) + 1:stride]  # (H', W')", "b:b + out_w]")],
      STRIDE, ("test_conv2d_single_lesson_examples", "test_conv2d_single_random"), "move by 1 pixel"),
    M("single square-only", "conv2d_single", [("out_w = (picture.shape[1] - kw)", "out_w = (picture.shape[0] - kw)")],
      RECTANGULAR_INPUT, "test_conv2d_single_random", "computed from the height"),
    M("single square kernel", "conv2d_single", [("kh, kw = weights.shape", "kh = kw = weights.shape[0]")],
      RECTANGULAR_KERNEL, "test_conv2d_single_random", "taken as square"),
    M("single padding is always 1", "conv2d_single",
      [("(padding, padding, padding, padding))  # zeros on all four sides", "(1, 1, 1, 1))")],
      BIGGER_STRIDE_PADDING, "test_conv2d_single_random"),
    M("single kernel larger than the image refused", "conv2d_single",
      [(_SINGLE_TOP, "    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:\n"
                     "        raise ValueError('the kernel is larger than the image')\n" + _SINGLE_TOP)],
      KERNEL_TALLER_THAN_INPUT, "test_conv2d_single_random"),
    M("single stride and padding swapped", "conv2d_single",
      [("def conv2d_single(image, kernel, stride=1, padding=0):", "def conv2d_single(image, kernel, padding=0, stride=1):")],
      POSITIONAL, "test_conv2d_single_random"),
    M("single with F.conv2d", "conv2d_single",
      [(_SINGLE_TOP, "    return F.conv2d(torch.as_tensor(image).float()[None, None], torch.as_tensor(kernel).float()"
                     "[None, None], stride=stride, padding=padding)[0, 0]\n")],
      BY_HAND, "test_conv2d_single_by_hand", "write it by hand"),
    # --- conv2d_volume
    M("volume square-only", "conv2d_volume", [("out_w = (stack.shape[2] - kw)", "out_w = (stack.shape[1] - kw)")],
      RECTANGULAR_INPUT, "test_conv2d_volume_random", "computed from the height"),
    M("volume first channel only", "conv2d_volume", [("bank[:, :, a, b], touched)", "bank[:, :1, a, b], touched[:1])")],
      SEVERAL_CHANNELS, "test_conv2d_volume_random", "only the first channel"),
    M("volume squeezed filters", "conv2d_volume", [("bank = torch.as_tensor(filters).to(torch.float32)",
                                                    "bank = torch.as_tensor(filters).to(torch.float32).squeeze()")],
      (ONE_CHANNEL, ONE_FILTER), "test_conv2d_volume_random"),
    M("volume square kernel", "conv2d_volume", [("n_filters, _, kh, kw = bank.shape",
                                                 "n_filters, _, kh, _ = bank.shape\n    kw = kh")],
      RECTANGULAR_KERNEL, "test_conv2d_volume_random", "taken as square"),
    M("volume bias ignored", "conv2d_volume",
      [("out += torch.as_tensor(bias).to(torch.float32).view(-1, 1, 1)  # one number per filter map", "pass")],
      BIAS, "test_conv2d_volume_random", "bias seems ignored"),
    M("volume bias required", "conv2d_volume", [("if bias is not None:", "if True:")],
      NO_BIAS, "test_conv2d_volume_random"),
    M("volume padding is always 1", "conv2d_volume", [("stack = F.pad(stack, (padding, padding, padding, padding))",
                                                       "stack = F.pad(stack, (1, 1, 1, 1))")],
      BIGGER_STRIDE_PADDING, "test_conv2d_volume_random"),
    M("volume kernel larger than the volume refused", "conv2d_volume",
      [(_VOLUME_TOP, "    if filters.shape[2] > volume.shape[1] or filters.shape[3] > volume.shape[2]:\n"
                     "        raise ValueError('the filters are larger than the volume')\n" + _VOLUME_TOP)],
      KERNEL_TALLER_THAN_INPUT, "test_conv2d_volume_random"),
    M("volume stride and padding swapped", "conv2d_volume",
      [("def conv2d_volume(volume, filters, bias=None, stride=1, padding=0):",
        "def conv2d_volume(volume, filters, bias=None, padding=0, stride=1):")],
      POSITIONAL, "test_conv2d_volume_random"),
    M("volume with F.conv2d", "conv2d_volume",
      [(_VOLUME_TOP, "    return F.conv2d(torch.as_tensor(volume).float()[None], torch.as_tensor(filters).float(), "
                     "bias, stride=stride, padding=padding)[0]\n")],
      BY_HAND, "test_conv2d_volume_by_hand", "write it by hand"),
    # --- conv_output_size
    M("size without + 1", "conv_output_size", [("// stride + 1", "// stride")],
      FORMULA, "test_conv_output_size_table", "+ 1"),
    M("size rounded up", "conv_output_size", [("size = (n + 2 * padding - f) // stride + 1",
                                               "size = math.ceil((n + 2 * padding - f) / stride) + 1")],
      FLOOR, "test_conv_output_size_table"),
    M("size as a float", "conv_output_size", [("// stride + 1", "/ stride + 1"), ("return int(size)", "return size")],
      INT_RESULT, "test_conv_output_size_table", "expected the int"),
    M("size without defaults", "conv_output_size", [("def conv_output_size(n, f, padding=0, stride=1):",
                                                     "def conv_output_size(n, f, padding, stride):")],
      DEFAULT_ARGUMENT, "test_conv_output_size_table"),
    M("size with renamed arguments", "conv_output_size",
      [("def conv_output_size(n, f, padding=0, stride=1):",
        "def conv_output_size(n, f, pad=0, s=1):\n    padding, stride = pad, s")],
      KEYWORDS, ("test_conv_output_size_table", "test_conv_output_size_errors")),
    M("size refuses a filter wider than the input", "conv_output_size", [("if size < 1:", "if f > n or size < 1:")],
      FILTER_FITS_AFTER_PADDING, ("test_conv_output_size_table", "test_conv_output_size_errors"), "valid"),
    M("size accepts a negative filter", "conv_output_size", [("if f < 1:", "if f == 0:")],
      BAD_FILTER, "test_conv_output_size_errors", "negative ones too"),
    M("size accepts a negative stride", "conv_output_size", [("if stride < 1:", "if stride == 0:")],
      BAD_STRIDE, "test_conv_output_size_errors", "negative ones too"),
    M("size accepts a negative padding", "conv_output_size", [("if padding < 0:", "if False:")],
      BAD_PADDING, "test_conv_output_size_errors", "expected ValueError"),
    M("size accepts an empty output", "conv_output_size", [("if size < 1:", "if False:")],
      EMPTY_OUTPUT, "test_conv_output_size_errors", "expected ValueError"),
    M("size with int() of a true division", "conv_output_size",
      [("size = (n + 2 * padding - f) // stride + 1", "size = int((n + 2 * padding - f) / stride) + 1")],
      EMPTY_AT_STRIDE, "test_conv_output_size_errors", "rounds up to 0"),
    M("size refuses an output of 1", "conv_output_size", [("if size < 1:", "if size <= 1:")],
      VALID_EDGES, ("test_conv_output_size_table", "test_conv_output_size_errors"), "arguments are valid"),
    # --- same_padding
    M("same padding f - 1", "same_padding", [("return (f - 1) // 2", "return f - 1")],
      FORMULA, "test_same_padding"),
    M("same padding as a float", "same_padding", [("return (f - 1) // 2", "return (f - 1) / 2")],
      INT_RESULT, "test_same_padding", "return an int"),
    M("same padding accepts even sizes", "same_padding", [("if f < 1 or f % 2 == 0:", "if f < 1:")],
      EVEN_SIZE, "test_same_padding_errors", "expected ValueError"),
    M("same padding accepts negative sizes", "same_padding", [("if f < 1 or f % 2 == 0:", "if f % 2 == 0:")],
      SIZE_BELOW_ONE, "test_same_padding_errors", "negative size is invalid"),
    # --- zero_pad
    M("pad bottom and right", "zero_pad", [("framed[..., pad:pad + height, pad:pad + width] = x",
                                            "framed[..., :height, :width] = x")],
      ALL_SIDES, "test_zero_pad_shapes_and_values", "bottom and right only"),
    M("pad square-only", "zero_pad", [("height + 2 * pad, width + 2 * pad)", "height + 2 * pad, height + 2 * pad)")],
      RECTANGULAR_INPUT, "test_zero_pad_shapes_and_values"),
    M("pad up to 3-D", "zero_pad", [("*leading, height, width = x.shape",
                                     "*leading, height, width = x.shape\n    leading = leading[-1:]")],
      FOUR_D, "test_zero_pad_shapes_and_values"),
    M("pad 2-D and 4-D only", "zero_pad", [("*leading, height, width = x.shape",
                                            "*leading, height, width = x.shape\n"
                                            "    leading = leading if len(leading) != 1 else []")],
      THREE_D, "test_zero_pad_shapes_and_values"),
    M("pad 3-D and 4-D only", "zero_pad", [("*leading, height, width = x.shape",
                                            "*leading, height, width = x.shape\n    leading = leading or [1]")],
      TWO_D, "test_zero_pad_shapes_and_values"),
    M("pad places the input one ring in", "zero_pad", [("framed[..., pad:pad + height, pad:pad + width] = x",
                                                        "framed[..., 1:1 + height, 1:1 + width] = x")],
      SEVERAL_RINGS, "test_zero_pad_shapes_and_values"),
    M("pad every dimension", "zero_pad",
      [("framed = x.new_zeros(*leading, height + 2 * pad, width + 2 * pad)  # same dtype and device as x\n"
        "    framed[..., pad:pad + height, pad:pad + width] = x",
        "framed = x.new_zeros(*[size + 2 * pad for size in x.shape])\n"
        "    framed[tuple(slice(pad, pad + size) for size in x.shape)] = x")],
      LEADING_KEPT, "test_zero_pad_shapes_and_values", "leading dimensions seem padded"),
    M("pad in float zeros", "zero_pad", [("framed = x.new_zeros(", "framed = torch.zeros(")],
      INT64, "test_zero_pad_dtype_and_pad_zero", "expected torch.int64"),
    M("pad with negative slice ends", "zero_pad", [("framed[..., pad:pad + height, pad:pad + width] = x",
                                                    "framed[..., pad:-pad, pad:-pad] = x")],
      PAD_ZERO, "test_zero_pad_dtype_and_pad_zero"),
    M("pad accepts a negative pad", "zero_pad", [("if pad < 0:", "if False:")],
      NEGATIVE_PAD, "test_zero_pad_negative", "ValueError"),
    M("pad with F.pad", "zero_pad", [("    x = torch.as_tensor(x)\n",
                                      "    return F.pad(torch.as_tensor(x), (pad, pad, pad, pad))\n")],
      BY_HAND, "test_zero_pad_by_hand", "write it by hand"),
]
for _name in ("max_pool2d", "avg_pool2d"):
    _test = f"test_{_name}_random"
    MUTATIONS += [
        M(f"{_name} square-only", _name, [("out_w = (values.shape[-1] - size)", "out_w = (values.shape[-2] - size)")],
          RECTANGULAR_INPUT, _test, "computed from the height"),
        M(f"{_name} stride taken as the size", _name, [(_POOL_TOP, "    stride = size\n" + _POOL_TOP)],
          STRIDE_NOT_SIZE, _test, "stride seems taken equal to the window size"),
        M(f"{_name} rounded up", _name,
          [("out_h = (values.shape[-2] - size) // stride + 1", "out_h = -(-(values.shape[-2] - size) // stride) + 1"),
           ("out_w = (values.shape[-1] - size) // stride + 1", "out_w = -(-(values.shape[-1] - size) // stride) + 1")],
          FLOOR, _test),
        M(f"{_name} 2-D only", _name, [(_POOL_TOP, _POOL_TOP + "    height, width = values.shape\n")],
          THREE_D, (_test, "test_pooling_lesson_example")),
        M(f"{_name} 3-D only", _name, [(_POOL_TOP, _POOL_TOP + "    channels, height, width = values.shape\n")],
          TWO_D, (_test, "test_pooling_lesson_example")),
        M(f"{_name} default stride 1", _name, [(f"def {_name}(x, size=2, stride=2):",
                                                f"def {_name}(x, size=2, stride=1):")],
          DEFAULT_POOLING, "test_pooling_lesson_example"),
        M(f"{_name} with the library", _name,
          [(_POOL_TOP, f"    x = torch.as_tensor(x).float()\n"
                       f"    return F.{_name}(x[None], size, stride)[0] if x.dim() == 2 else F.{_name}(x, size, stride)\n"
                       + _POOL_TOP)],
          BY_HAND, f"test_{_name}_by_hand", "write it by hand"),
    ]
MUTATIONS += [
    M("max_pool2d running maximum from 0", "max_pool2d",
      [("out = view.clone() if out is None else torch.maximum(out, view)",
        "out = torch.maximum(torch.zeros_like(view) if out is None else out, view)")],
      NEGATIVE_VALUES, ("test_max_pool2d_random", "test_pooling_lesson_example"), "running maximum"),
    M("avg_pool2d summed windows", "avg_pool2d", [("out = total / (size * size)", "out = total")],
      WINDOW_MEAN, ("test_avg_pool2d_random", "test_pooling_lesson_example"), "summed instead of averaged"),
    # --- SimpleCNN
    M("cnn average pooling", "SimpleCNN", [("self.pool1 = nn.MaxPool2d(2, 2)", "self.pool1 = nn.AvgPool2d(2, 2)")],
      (LAYER_TYPES, CONTRACT_WEIGHTS), ("test_simple_cnn_layers", "test_simple_cnn_forward"), "AvgPool2d"),
    M("cnn overlapping pooling", "SimpleCNN", [("self.pool1 = nn.MaxPool2d(2, 2)",
                                                "self.pool1 = nn.MaxPool2d(3, 2, padding=1)")],
      (LAYER_SETTINGS, CONTRACT_WEIGHTS), ("test_simple_cnn_layers", "test_simple_cnn_forward"), "kernel_size"),
    M("cnn fc3 without bias", "SimpleCNN", [("self.fc3 = nn.Linear(84, 10)", "self.fc3 = nn.Linear(84, 10, bias=False)")],
      (PARAMETER_COUNTS, LAYER_SETTINGS), ("test_simple_cnn_layers", "test_simple_cnn_parameters"), "no bias"),
    M("cnn spare layer", "SimpleCNN", [("self.fc3 = nn.Linear(84, 10)",
                                        "self.fc3 = nn.Linear(84, 10)\n        self.spare = nn.Linear(10, 10)")],
      PARAMETER_COUNTS, "test_simple_cnn_parameters", "61,706"),
    M("cnn squeezed logits", "SimpleCNN", [("return self.fc3(hidden)  ", "return self.fc3(hidden).squeeze()  ")],
      BATCH_OF_ONE, "test_simple_cnn_shapes", "batch dimension seems dropped"),
    M("cnn flattens the whole batch", "SimpleCNN", [("hidden = torch.flatten(hidden, start_dim=1)",
                                                     "hidden = torch.flatten(hidden).unsqueeze(0)")],
      BATCH_OF_SEVERAL, ("test_simple_cnn_shapes", "test_simple_cnn_forward")),
    M("cnn softmax", "SimpleCNN", [("return self.fc3(hidden)  ", "return self.fc3(hidden).softmax(dim=1)  ")],
      LOGITS, "test_simple_cnn_forward", "probabilities"),
    M("cnn reflect padding", "SimpleCNN", [("self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)",
                                            "self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2, padding_mode='reflect')")],
      CONTRACT_WEIGHTS, "test_simple_cnn_forward", "other logits than the contract's"),
    # --- train_one_epoch
    M("train without zero_grad", "train_one_epoch", [("        optimizer.zero_grad()\n", "")],
      ZERO_BEFORE_BACKWARD, ("test_train_one_epoch_weights", "test_train_one_epoch_steps",
                             "test_train_one_epoch_returns"), "never zeroes the gradients"),
    M("train zero_grad after the step", "train_one_epoch",
      [("        optimizer.zero_grad()\n", ""), ("        optimizer.step()\n", "        optimizer.step()\n"
                                                                            "        optimizer.zero_grad()\n")],
      LEFT_OVER_GRADIENTS, ("test_train_one_epoch_weights", "test_train_one_epoch_steps"), "left over"),
    M("train zero_grad between backward and step", "train_one_epoch",
      [("        optimizer.zero_grad()\n", ""), ("        loss.backward()\n", "        loss.backward()\n"
                                                                            "        optimizer.zero_grad()\n")],
      ZERO_BEFORE_BACKWARD, ("test_train_one_epoch_weights", "test_train_one_epoch_steps"),
      "between loss.backward() and optimizer.step()"),
    M("train backward twice", "train_one_epoch", [("        loss.backward()\n",
                                                   "        loss.backward(retain_graph=True)\n        loss.backward()\n")],
      ONE_BACKWARD_ONE_STEP, ("test_train_one_epoch_weights", "test_train_one_epoch_steps"), "backward() 2 times"),
    M("train two steps", "train_one_epoch", [("        optimizer.step()\n",
                                              "        optimizer.step()\n        optimizer.step()\n")],
      ONE_BACKWARD_ONE_STEP, ("test_train_one_epoch_weights", "test_train_one_epoch_steps"), "step() 2 times"),
    M("train without model.train()", "train_one_epoch", [("    model.train()\n", "")],
      TRAIN_MODE, "test_train_one_epoch_steps", "model.train()"),
    M("train with clipped gradients", "train_one_epoch",
      [("        optimizer.step()\n", "        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.01)\n"
                                       "        optimizer.step()\n")],
      CONTRACT_LOOP, ("test_train_one_epoch_weights", "test_accuracy_gate"), "differs from the lesson's training loop"),
    M("train size-weighted mean loss", "train_one_epoch",
      [("loss_sum += loss.item()", "loss_sum += loss.item() * labels.shape[0]"),
       ("return loss_sum / n_batches,", "return loss_sum / n_seen,")],
      PLAIN_MEAN, "test_train_one_epoch_returns", "weighted by batch size"),
    M("train accuracy as a fraction", "train_one_epoch", [("100.0 * n_correct / n_seen", "n_correct / n_seen")],
      PERCENT, "test_train_one_epoch_returns", "percent"),
    M("train counts the images first", "train_one_epoch",
      [("    model.train()\n", "    model.train()\n    n_images = sum(len(labels) for _, labels in loader)\n")],
      ONE_PASS, "test_train_one_epoch_one_pass", "exactly one pass"),
    M("train changes the learning rate", "train_one_epoch",
      [("    model.train()\n", "    model.train()\n    for group in optimizer.param_groups:\n        group['lr'] = 0.01\n")],
      OPTIMIZER_AS_GIVEN, "test_train_one_epoch_one_pass", "use the optimizer as it is given"),
    M("train takes the batches from the dataset in order", "train_one_epoch",
      [(_TRAIN_LOOP, "    for first in range(0, len(loader.dataset), loader.batch_size):\n"
                     "        images, labels = loader.dataset[first:first + loader.batch_size]\n")],
      (SHUFFLED_EPOCHS, ONE_PASS), ("test_train_one_epoch_one_pass", "test_accuracy_gate")),
    # --- evaluate
    M("evaluate without model.eval()", "evaluate", [("    model.eval()\n", "")],
      EVAL_MODE, "test_evaluate_mode", "model.eval()"),
    M("evaluate with gradients", "evaluate", [("    with torch.no_grad():\n", "    if True:\n")],
      NO_GRAD, "test_evaluate_mode", "torch.no_grad()"),
    M("evaluate accuracy as a fraction", "evaluate", [("return 100.0 * n_correct / n_seen", "return n_correct / n_seen")],
      PERCENT, "test_evaluate_accuracy", "percent"),
    M("evaluate mean of batch accuracies", "evaluate",
      [("n_correct += (predicted == labels).sum().item()",
        "n_correct += 100.0 * (predicted == labels).float().mean().item()"),
       ("            n_seen += labels.shape[0]\n", "            n_seen += 1\n"),
       ("return 100.0 * n_correct / n_seen", "return n_correct / n_seen")],
      PLAIN_MEAN, "test_evaluate_accuracy", "per-batch accuracies"),
    M("evaluate counts the images first", "evaluate",
      [("    model.eval()\n", "    model.eval()\n    n_images = sum(len(labels) for _, labels in loader)\n")],
      ONE_PASS, "test_evaluate_mode", "exactly one pass"),
    # --- feature_maps
    M("feature_maps calls model.eval()", "feature_maps", [("    with torch.no_grad():\n",
                                                           "    model.eval()\n    with torch.no_grad():\n")],
      FROM_TRAIN_MODE, "test_feature_maps_leaves_model_unchanged", "model.eval() inside feature_maps"),
    M("feature_maps calls model.train()", "feature_maps", [("    return {", "    model.train()\n    return {")],
      FROM_EVAL_MODE, "test_feature_maps_leaves_model_unchanged", "model.train() inside feature_maps"),
    M("feature_maps with gradients", "feature_maps", [("    with torch.no_grad():\n", "    if True:\n")],
      NO_GRAD, "test_feature_maps_leaves_model_unchanged", "torch.no_grad()"),
    M("feature_maps keeps the batch dimension", "feature_maps",
      [('{"conv1": after_conv1[0], "pool1": after_pool1[0], "conv2": after_conv2[0]}',
        '{"conv1": after_conv1, "pool1": after_pool1, "conv2": after_conv2}')],
      NO_BATCH_DIM, ("test_feature_maps_keys_and_shapes", "test_feature_maps_values"), "batch dimension seems kept"),
    M("feature_maps misnames a key", "feature_maps", [('"pool1": after_pool1[0]', '"pool": after_pool1[0]')],
      KEYS, ("test_feature_maps_keys_and_shapes", "test_feature_maps_values"), "no key 'pool1'"),
    M("feature_maps without ReLU", "feature_maps", [("after_conv1 = torch.relu(model.conv1(batch))",
                                                     "after_conv1 = model.conv1(batch)")],
      MAP_VALUES, "test_feature_maps_values", "ReLU seems missing"),
    M("feature_maps rescales the filters in place", "feature_maps",
      [("        batch = image.unsqueeze(0)", "        model.conv1.weight /= model.conv1.weight.abs().max()\n"
                                             "        batch = image.unsqueeze(0)")],
      WEIGHTS_KEPT, "test_feature_maps_leaves_model_unchanged", "changed the model's weights"),
]


# ----- building mutated submissions ---------------------------------------------------------------

_CELL = re.compile(r"^# --- cell (\w+) ---$", re.M)


def reference_cells() -> dict[str, str]:
    """The reference solution's cells by grade_id, in order (imports first)."""
    text = REFERENCE.read_text(encoding="utf-8")
    marks = list(_CELL.finditer(text))
    return {mark.group(1): text[mark.start():marks[i + 1].start() if i + 1 < len(marks) else len(text)]
            for i, mark in enumerate(marks)}


def mutated_source(mutations) -> str:
    """The reference solution with each mutation's edits applied to its function's cell."""
    cells = reference_cells()
    for mutation in mutations:
        cell = cells[mutation.function]
        for old, new in mutation.edits:
            assert cell.count(old) == 1, f"{mutation.id}: {old!r} is not exactly once in the reference's " \
                                         f"{mutation.function} cell (was the solution rewritten?)"
            cell = cell.replace(old, new)
        cells[mutation.function] = cell
    return "".join(cells.values())


def namespace_of(source: str) -> dict:
    namespace: dict = {"__name__": "mutated"}
    exec(compile(source, "mutated submission", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def public_checks():
    return load_public_checks()  # the release's copy: what students run


# ----- (a) the table covers every grader test ---------------------------------------------------

def test_the_graders_folder_is_found_and_read():
    tests = grader_tests()
    assert len(tests) >= 30, sorted(tests)
    assert {test.part for test in tests.values()} == {"manual_conv", "output_size", "pooling", "simple_cnn",
                                                      "training_loop", "feature_maps"}


def test_every_grader_test_has_a_public_twin():
    tests = grader_tests()
    missing = sorted(set(tests) - set(PAIRING))
    assert not missing, (f"grader tests with no public twin in PAIRING: {missing}; add a public check of the same "
                         "kind (other data) to public_checks.py and a row here")
    stale = sorted(set(PAIRING) - set(tests))
    assert not stale, f"PAIRING names grader tests that no longer exist: {stale}"


def test_twins_are_public_checks_of_the_same_part(public_checks):
    tests = grader_tests()
    for function, twin in PAIRING.items():
        assert twin.public and twin.kinds, function
        for name in twin.public:
            assert name in public_checks.CHECKS, (function, name)
            assert name in public_checks.PARTS[tests[function].part], (function, name, tests[function].part)


# ----- (b) each kind is shown publicly: a mistake of that kind fails its public check ---------------

def test_every_kind_is_shown_by_a_mistake_of_that_kind():
    shown = {kind for mutation in MUTATIONS for kind in mutation.kinds}
    for function, twin in PAIRING.items():
        unshown = [kind for kind in twin.kinds if kind not in shown]
        assert not unshown, f"{function}: no mutation of kind {unshown}"
    assert len({mutation.id for mutation in MUTATIONS}) == len(MUTATIONS)
    for mutation in MUTATIONS:  # its hidden tests share its kind and have its function's check as a twin
        for test in mutation.hidden:
            twin = PAIRING[test]
            assert mutation.function in twin.public, (mutation.id, test)
            assert set(mutation.kinds) & set(twin.kinds), (mutation.id, test, mutation.kinds)


def test_the_reference_passes_every_public_check(public_checks):
    namespace = namespace_of(mutated_source([]))
    for part in public_checks.PARTS:
        passed, lines = run_part(public_checks, part, namespace)
        assert passed, lines


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[mutation.id for mutation in MUTATIONS])
def test_the_public_check_catches_the_mistake(mutation, public_checks):
    namespace = namespace_of(mutated_source([mutation]))
    part = next(part for part, names in public_checks.PARTS.items() if mutation.function in names)
    passed, lines = run_part(public_checks, part, namespace)
    assert not passed, lines
    verdicts = {line.split()[1].rstrip(":"): index for index, line in enumerate(lines) if line[:1] in "✅❌⏳"}
    index = verdicts[mutation.function]
    said = lines[index:index + 2]  # the verdict and its Hint: line, if any
    assert said[0].startswith(f"❌ {mutation.function}"), said
    if said[0].startswith(f"❌ {mutation.function}: raised "):  # the student's error, never the check's own
        assert "of your `" in said[0] or said[1:2] and said[1].startswith("   Hint:"), said
    for name, other in verdicts.items():  # one mistake fails only its own function's check
        if name != mutation.function:
            assert lines[other].startswith("✅"), lines[other]
    if mutation.says:
        assert mutation.says in "\n".join(said), said


# ----- (c) the hidden graders fail each mistake where the mutation says ---------------------------

def mutation_groups() -> list[list[Mutation]]:
    """The mutations, at most one per function in a group, so each group grades as one submission."""
    groups: list[list[Mutation]] = []
    for mutation in MUTATIONS:
        group = next((g for g in groups if all(m.function != mutation.function for m in g)), None)
        if group is None:
            groups.append(group := [])
        group.append(mutation)
    return groups


@pytest.mark.slow
@pytest.mark.parametrize("group", mutation_groups(), ids=lambda group: f"{len(group)} mistakes")
def test_the_hidden_graders_fail_each_mistake(group, tmp_path, mnist_dir, sandbox_config, fork_server):
    from autograder.engine.grade import grade

    os.environ.setdefault("CNN_MNIST_DIR", str(mnist_dir))
    tests = grader_tests()
    wanted = sorted({test for mutation in group for test in mutation.hidden} - SLOW_GRADER_TESTS)
    submission = tmp_path / "submission.py"
    submission.write_text(mutated_source(group), encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()):
        result = grade(submission, tmp_path / "out", config=sandbox_config, select=" or ".join(wanted),
                       server=fork_server)
    by_name = {test.name: test for test in result.tests if test.selected}
    for mutation in group:
        for function in mutation.hidden:
            if function in SLOW_GRADER_TESTS:
                continue
            test = by_name.get(tests[function].name)
            assert test is not None, (mutation.id, function, sorted(by_name))
            assert not test.passed, f"{mutation.id}: the hidden {function} passed it"
