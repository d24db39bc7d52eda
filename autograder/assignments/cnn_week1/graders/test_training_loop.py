"""Part training_loop: train_one_epoch and evaluate observed in the worker, replicated here; the accuracy gate,
which replays the contract's loop on a secret seed (replay.py) instead of trusting returned weights, and
whose training starts before the first test (gate.py, conftest.py) so that it overlaps the others.

Weights (25 points, 12 weights: 2.08 each): the probe's weights, returns and steps, evaluate's accuracy
and the gate 2 each (4.17 points), one pass and evaluate's mode 1. The gate compares weights like the
probe, on the full budget, so it weighs the same. A loop mistake (no zero_grad, no step) fails weights,
returns, steps and the gate with one diagnosis: 4.17 points once, not 17.85 as when each test charged it."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from autograder.assignments.cnn_week1 import replay
from autograder.assignments.cnn_week1.hints import shared_hints
from autograder.engine.checks import changed_weights, describe_type, expect_float, number_text, with_hint
from autograder.assignments.cnn_week1.data import training_arrays
from autograder.engine.failures import GradingFailure, HostFault
from autograder.assignments.cnn_week1.worker.reference_model import ReferenceCNN, accuracy_percent, seeded_weights

pytestmark = pytest.mark.part("training_loop")

LR, MOMENTUM = 0.05, 0.9
NO_ZERO_GRAD = "train_one_epoch: no zero_grad"
ZERO_AFTER_STEP = "train_one_epoch: zero_grad after the step"
NO_STEP = "train_one_epoch: no optimizer.step()"
# Loops with one classic mistake (replicate_training's variants): what they do, and their diagnosis.
LOOP_MISTAKES = {"no_zero_grad": ("never zeroes the gradients", NO_ZERO_GRAD),
                 "zero_after_step": ("zeroes the gradients only after the step", ZERO_AFTER_STEP),
                 "no_step": ("never calls optimizer.step()", NO_STEP)}
BATCH_SIZES = (8, 8, 5)  # unequal, so a size-weighted mean differs from the contract's plain mean
STALE_SEED = 99  # the probe model arrives with gradients drawn from this seed (see tasks.train_probe)


def probe_batches(seed: int, sizes=BATCH_SIZES) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, 1, 28, 28, generator=generator), torch.randint(0, 10, (n,), generator=generator))
            for n in sizes]


def loader_payload(batches) -> dict:
    """The worker's loader from batches of equal size but the last (as a DataLoader gives them)."""
    return {"images": torch.cat([x for x, _ in batches]), "labels": torch.cat([y for _, y in batches]),
            "batch_size": len(batches[0][1])}


def replicate_training(weights, batches, variant: str = "contract") -> dict:
    """The contract's loop, or a classic mistake of it, from the probe's starting state."""
    model = ReferenceCNN()
    model.load_state_dict(weights)
    model.train()
    generator = torch.Generator().manual_seed(STALE_SEED)
    for parameter in model.parameters():  # same order and seed as the worker's probe
        parameter.grad = torch.randn(parameter.shape, generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    losses, correct, total, batch_accuracies = [], 0, 0, []
    for x, y in batches:
        if variant in ("contract", "no_step"):
            optimizer.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out, y)
        loss.backward()
        if variant != "no_step":
            optimizer.step()
        if variant == "zero_after_step":
            optimizer.zero_grad()
        hits = int((out.argmax(1) == y).sum())
        losses.append(loss.item())
        correct, total = correct + hits, total + len(y)
        batch_accuracies.append(100.0 * hits / len(y))
    return {"weights": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "losses": losses, "sizes": [len(y) for _, y in batches], "correct": correct, "total": total,
            "accuracy": 100.0 * correct / total, "batch_accuracies": batch_accuracies}


def run_train_probe(student, seed: int = 3) -> tuple[dict, dict, list]:
    weights = seeded_weights(seed)
    batches = probe_batches(seed + 100)
    report = student.task("train_probe", {"weights": weights, **loader_payload(batches), "lr": LR,
                                          "momentum": MOMENTUM, "seed": STALE_SEED}, needs=("train_one_epoch",))
    return report, weights, batches


def _same_weights(got: dict, want: dict, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """None when equal, else the name of the first parameter that differs."""
    for name, tensor in want.items():
        other = got.get(name) if isinstance(got, dict) else None
        if not isinstance(other, torch.Tensor) or other.shape != tensor.shape or \
                not torch.allclose(other.double(), tensor.double(), atol=atol, rtol=rtol):
            return name
    return None


# ----- the event log -----------------------------------------------------------------------

def per_batch(events: list) -> tuple[list, list[list]]:
    """Split the log (first pass only) into what happened before the first batch and during each batch."""
    before, batches = [], []
    for event in events:
        if event[0] == "pass" and event[1] > 1:
            break  # further passes are judged by the one-pass test
        if event[0] == "batch":
            batches.append([])
        elif batches:
            batches[-1].append(event)
        else:
            before.append(event)
    return before, batches


def count(events: list, name: str) -> int:
    return sum(1 for event in events if event[0] == name)


# ----- train_one_epoch -----------------------------------------------------------------------

@pytest.mark.weight(2)
def test_train_one_epoch_weights(student):
    """train_one_epoch updates the weights exactly like the reference training loop

    One call on 3 batches (8, 8 and 5 images; SGD, lr 0.05, momentum 0.9; gradients left over from
    before): every weight equals the contract loop's.
    """
    report, weights, batches = run_train_probe(student)
    expected = replicate_training(weights, batches)
    differs = _same_weights(report["weights"], expected["weights"])
    if differs is None:
        return
    diagnosis = None
    if _same_weights(report["weights"], weights) is None:
        hint, diagnosis = shared_hints().words('no optimizer.step()'), NO_STEP
    elif _same_weights(report["weights"], replicate_training(weights, batches, "no_zero_grad")["weights"]) is None:
        hint, diagnosis = shared_hints().words('no zero_grad'), NO_ZERO_GRAD
    elif _same_weights(report["weights"], replicate_training(weights, batches, "zero_after_step")["weights"]) is None:
        hint, diagnosis = shared_hints().words('zero_grad after the step'), ZERO_AFTER_STEP
    else:
        hint = "compare your loop step by step with the lesson's (zero_grad, forward, loss, backward, step)"
    got, want = report["weights"].get(differs), expected["weights"][differs]
    detail = None
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        index = int((got.double() - want.double()).abs().flatten().argmax())
        detail = (f"largest difference in {differs} at flat index {index}: got {number_text(got.flatten()[index])}, "
                  f"expected {number_text(want.flatten()[index])}")
    raise GradingFailure(with_hint(f"After one call of train_one_epoch on {len(batches)} batches (SGD, lr {LR}, "
                                   f"momentum {MOMENTUM}), the weight `{differs}` differs from the reference loop's",
                                   hint), detail, diagnosis=diagnosis)


@pytest.mark.weight(2)
def test_train_one_epoch_returns(student):
    """train_one_epoch returns the plain mean of the batch losses and the training accuracy in percent

    The same call's (mean loss, accuracy) against the plain mean of the batch losses and the
    percentage of right predictions.
    """
    report, weights, batches = run_train_probe(student)
    returned = report["returned"]
    if not isinstance(returned, (tuple, list)) or len(returned) != 2:
        raise GradingFailure(f"train_one_epoch returned {describe_type(returned)}; the contract asks for the "
                             "pair (mean loss, accuracy in percent).")
    expected = replicate_training(weights, batches)
    losses, sizes = expected["losses"], expected["sizes"]
    mean_loss = sum(losses) / len(losses)
    what = f"The mean loss returned by train_one_epoch on {len(batches)} batches of {', '.join(map(str, sizes))} images"
    mistaken_loop_returns(returned, mean_loss, weights, batches, what)
    loss_hints = [("this is the mean weighted by batch size; the contract asks for the plain mean of the "
                   "batch losses (sum / number of batches)", sum(l * n for l, n in zip(losses, sizes)) / sum(sizes)),
                  ("this is the sum of the batch losses: divide by the number of batches", sum(losses)),
                  ("this is the last batch's loss: average over all batches", losses[-1])]
    expect_float(returned[0], mean_loss, what, atol=1e-4, rtol=1e-4, hints=loss_hints)
    accuracy = expected["accuracy"]
    accuracy_hints = [("this is a fraction: the contract asks for percent (0-100)", accuracy / 100.0),
                      ("this is the mean of the per-batch accuracies; divide the correct predictions by all images",
                       sum(expected["batch_accuracies"]) / len(batches)),
                      ("this is the number of correct predictions: divide by the number of images, times 100",
                       float(expected["correct"]))]
    expect_float(returned[1], accuracy, f"The training accuracy returned by train_one_epoch "
                 f"({expected['correct']} of {expected['total']} predictions right)", atol=1e-3, rtol=1e-5,
                 hints=accuracy_hints)


def mistaken_loop_returns(returned, mean_loss: float, weights, batches, what: str) -> None:
    """A GradingFailure with the loop's diagnosis when the returned pair is exactly what the contract's
    return values are for a loop with one classic mistake (so the return code itself is right)."""
    try:
        loss, accuracy = float(returned[0]), float(returned[1])
    except (TypeError, ValueError):
        return
    if math.isclose(loss, mean_loss, rel_tol=1e-4, abs_tol=1e-4):
        return
    for variant, (does, diagnosis) in LOOP_MISTAKES.items():
        mistaken = replicate_training(weights, batches, variant)
        if math.isclose(loss, sum(mistaken["losses"]) / len(mistaken["losses"]), rel_tol=1e-4, abs_tol=1e-4) \
                and math.isclose(accuracy, mistaken["accuracy"], rel_tol=1e-5, abs_tol=1e-3):
            raise GradingFailure(with_hint(f"{what} is {number_text(loss)}, expected {number_text(mean_loss)}",
                                           f"both returned values are exactly those of a loop that {does}: the "
                                           "mean loss and the accuracy are computed right, the training itself is "
                                           "not (see the weights test)"), diagnosis=diagnosis)


@pytest.mark.weight(2)
def test_train_one_epoch_steps(student):
    """train_one_epoch trains in training mode with one zero_grad, backward and step per batch

    The same call's order of events: training mode, gradients on, zero_grad before each backward,
    one backward and one step per batch.
    """
    report, _, batches = run_train_probe(student)
    before, during = per_batch(report["events"])
    where = f"of {len(batches)}"
    zeroed = count(before, "zero_grad") > 0  # since the last backward
    if not during:
        raise GradingFailure("train_one_epoch never took a batch from the loader.")
    for number, events in enumerate(during, start=1):
        forwards = [event for event in events if event[0] == "forward"]
        if not forwards:
            raise GradingFailure(f"In batch {number} {where}, train_one_epoch did not run the model.")
        if not all(event[1] for event in forwards):
            raise GradingFailure(f"In batch {number} {where}, the model was in evaluation mode: call model.train() "
                                 "at the start of train_one_epoch (the test's model came in evaluation mode).")
        if not any(event[2] and not event[3] for event in forwards):
            raise GradingFailure(f"In batch {number} {where}, the model ran without gradient tracking "
                                 "(inside no_grad or inference_mode), so it cannot learn.")
        backwards, steps = count(events, "backward"), count(events, "step")
        if backwards != 1:
            raise GradingFailure(f"In batch {number} {where}, loss.backward() ran {backwards} times; expected once.")
        if steps != 1:
            never = count(report["events"], "step") == 0 and all(count(e, "backward") == 1 for e in during)
            raise GradingFailure(f"In batch {number} {where}, optimizer.step() ran {steps} times; expected once.",
                                 diagnosis=NO_STEP if never else None)
        for event in events:
            if event[0] == "zero_grad":
                zeroed = True
            elif event[0] == "backward":
                if not zeroed:
                    if count(report["events"], "zero_grad") == 0:
                        raise GradingFailure(with_hint("train_one_epoch never zeroes the gradients",
                                                       shared_hints().words("no zero_grad")),
                                             diagnosis=NO_ZERO_GRAD if steps_right_but_zero_grad(during) else None)
                    first = (" (the test's model came with gradients left over from earlier, so zeroing "
                             "only after the step is too late)") if number == 1 else ""
                    raise GradingFailure(f"In batch {number} {where}, the gradients were not zeroed before "
                                         f"loss.backward(){first}: call optimizer.zero_grad() before backward.")
                zeroed = False
            elif event[0] == "step" and not any(e[0] == "backward" for e in events[:events.index(event)]):
                raise GradingFailure(f"In batch {number} {where}, optimizer.step() ran before loss.backward().")


def steps_right_but_zero_grad(during: list[list]) -> bool:
    """Every batch of the log has a training-mode forward with gradients, one backward and, after
    it, one step: nothing but zero_grad can be wrong (so "never zeroes" is the whole diagnosis)."""
    for events in during:
        forwards = [event for event in events if event[0] == "forward"]
        names = [event[0] for event in events]
        if not forwards or not all(event[1] for event in forwards) or \
                not any(event[2] and not event[3] for event in forwards) or \
                names.count("backward") != 1 or names.count("step") != 1 or \
                names.index("step") < names.index("backward"):
            return False
    return True


@pytest.mark.weight(1)
def test_train_one_epoch_one_pass(student):
    """train_one_epoch makes exactly one pass over the loader and leaves the optimizer's settings unchanged

    The loader is iterated once and every batch used; the optimizer's settings stay as given.
    """
    report, _, batches = run_train_probe(student)
    if report["passes"] != 1:
        raise GradingFailure(f"train_one_epoch iterated over the loader {report['passes']} times; "
                             "the contract asks for exactly one pass.")
    seen = count(report["events"], "batch")
    if seen != len(batches):
        raise GradingFailure(f"train_one_epoch used {seen} of the loader's {len(batches)} batches; "
                             "it must use every batch once.")
    optimizer = report["optimizer"]
    if optimizer["lr"] != LR or optimizer["momentum"] != MOMENTUM or optimizer["groups"] != 1 \
            or optimizer["parameters"] != 10:
        raise GradingFailure(f"train_one_epoch changed the optimizer (learning rate {optimizer['lr']}, momentum "
                             f"{optimizer['momentum']}, {optimizer['groups']} parameter group(s) afterwards; given: "
                             f"lr {LR}, momentum {MOMENTUM}, 1 group): use the optimizer as it is given.")


# ----- evaluate ------------------------------------------------------------------------------

def evaluate_case(seed: int = 21):
    """Weights and batches where about two thirds of the labels agree with the model."""
    weights = seeded_weights(seed)
    batches = probe_batches(seed + 100)
    model = ReferenceCNN()
    model.load_state_dict(weights)
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    labelled, correct, total, per_batch_accuracy = [], 0, 0, []
    with torch.no_grad():
        for x, y in batches:
            predicted = model(x).argmax(1)
            keep = torch.rand(len(y), generator=generator) < 0.67
            y = torch.where(keep, predicted, y)
            hits = int((predicted == y).sum())
            labelled.append((x, y))
            correct, total = correct + hits, total + len(y)
            per_batch_accuracy.append(100.0 * hits / len(y))
    return weights, labelled, correct, total, per_batch_accuracy


@pytest.mark.weight(2)
def test_evaluate_accuracy(student):
    """evaluate returns the accuracy in percent of the given model on the loader's batches

    Accuracy in percent on 3 batches where about two thirds of the predictions are right.
    """
    weights, batches, correct, total, per_batch_accuracy = evaluate_case()
    report = student.task("evaluate_probe", {"weights": weights, **loader_payload(batches), "start_mode": "eval"},
                          needs=("evaluate",))
    accuracy = 100.0 * correct / total
    hints = [("this is a fraction: the contract asks for percent (0-100)", accuracy / 100.0),
             ("this is the mean of the per-batch accuracies; divide the correct predictions by all images",
              sum(per_batch_accuracy) / len(per_batch_accuracy)),
             ("this is the number of correct predictions: divide by the number of images, times 100", float(correct))]
    expect_float(report["returned"], accuracy, f"evaluate on {len(batches)} batches ({correct} of {total} "
                 "predictions right)", atol=1e-3, rtol=1e-5, hints=hints)


@pytest.mark.weight(1)
def test_evaluate_mode(student):
    """evaluate runs in evaluation mode without gradient tracking, in one pass, and keeps the weights

    A model that comes in training mode: evaluation mode, no gradient tracking, one pass, weights
    unchanged.
    """
    weights, batches, *_ = evaluate_case(22)
    report = student.task("evaluate_probe", {"weights": weights, **loader_payload(batches), "start_mode": "train"},
                          needs=("evaluate",))
    forwards = [event for event in report["events"] if event[0] == "forward"]
    if not forwards:
        raise GradingFailure("evaluate never ran the model.")
    if any(event[1] for event in forwards):
        raise GradingFailure(with_hint("evaluate ran the model in training mode", shared_hints().words("no eval()")))
    if any(event[2] for event in forwards):
        raise GradingFailure(with_hint("evaluate ran the model with gradient tracking on",
                                       shared_hints().words("no no_grad")))
    if report["passes"] != 1 or count(report["events"], "batch") != len(batches):
        raise GradingFailure(f"evaluate made {report['passes']} pass(es) over the loader and used "
                             f"{count(report['events'], 'batch')} batches; expected one pass over all "
                             f"{len(batches)} batches.")
    changed = changed_weights(weights, report["weights_after"])
    if changed:
        raise GradingFailure(f"evaluate changed the model's weights ({', '.join(changed[:3])}).")


# ----- the accuracy gate --------------------------------------------------------------------

def _checked_weights(weights) -> dict:
    expected = ReferenceCNN().state_dict()
    if not isinstance(weights, dict) or set(weights) != set(expected) or any(
            not isinstance(weights[k], torch.Tensor) or weights[k].shape != v.shape for k, v in expected.items()):
        raise GradingFailure("The trained model's weights came back malformed (the training run was tampered with?).")
    return {k: weights[k].float() for k in expected}


def _gate_diagnosis(report: dict, weights: dict, run, budget, config, threads: int,
                    expected_steps: int) -> tuple[str | None, str | None]:
    """(hint, diagnosis) when the trained weights are exactly those of a loop with one classic mistake:
    the start weights (no step at all), or the contract's loop without zero_grad (replayed here, and
    cached like the contract's, only for a loop that stepped once per batch)."""
    if report["steps"] == 0 and replay.first_difference(weights, run.weights) is None:
        return "the weights never changed: optimizer.step() is never called", NO_STEP
    if report["steps"] == expected_steps and report["batches_seen"] == expected_steps:
        try:
            mistaken = replay.Replay(budget, run, training_arrays(config), threads, variant="no_zero_grad")
            without_zero_grad = mistaken.weights(timeout=2 * budget.time_limit)
        except HostFault:  # no diagnosis then; the failure itself stands
            return None, None
        if replay.first_difference(weights, without_zero_grad) is None:
            return ("your weights are exactly those of the contract's loop without optimizer.zero_grad(): the "
                    "gradients add up from batch to batch; zero them before each backward"), NO_ZERO_GRAD
    return None, None


def _gate_hint(report: dict, losses: list[float], weights: dict, expected_steps: int) -> str:
    if any(not math.isfinite(v) for v in losses) or not all(torch.isfinite(t).all() for t in weights.values()):
        return "the loss became NaN or infinite: are the gradients zeroed before each backward?"
    if report["steps"] != expected_steps:
        return f"optimizer.step() ran {report['steps']} times for {expected_steps} batches, expected once per batch"
    if report["batches_seen"] != expected_steps:
        return f"the loss was computed {report['batches_seen']} times for {expected_steps} batches"
    if len(losses) >= 10 and sum(losses[-5:]) > 2 * sum(losses[:5]):
        return (f"the recorded loss grew from {number_text(losses[0])} to {number_text(losses[-1])}: "
                "are the gradients zeroed before each backward?")
    return "check zero_grad/backward/step order against the lesson's loop (zero_grad, forward, loss, backward, step)"


@pytest.mark.weight(2)
def test_accuracy_gate(started_gate, grading_config, mnist_test, attach):
    """a model trained with train_one_epoch under the budget ends with the contract loop's weights and reaches the required MNIST test accuracy

    grading.toml's [training] budget on MNIST from a secret start: the trained weights must equal
    the contract loop's replayed by the grader, which also measures the accuracy on the 10,000 test
    images.
    """
    budget = grading_config.training
    threads = grading_config.sandbox.threads()
    run, expected = started_gate.run, started_gate.expected  # begun before the first test (conftest.py)
    attach("gate_seed_index", run.index)  # the grade's provenance records which pool seed it drew
    described = (f"{budget.epochs} epoch(s) over {budget.train_samples:,} training images, batch size "
                 f"{budget.batch_size}, {budget.optimizer.upper()} lr {budget.learning_rate:g}"
                 + (f" momentum {budget.momentum:g}" if budget.optimizer == "sgd" else ""))
    report = started_gate.training.result()
    weights = _checked_weights(report["weights"])
    losses = [float(v) for v in report["losses"]]
    attach("loss_curve", losses)
    images, labels = mnist_test
    difference = replay.first_difference(weights, expected.weights(timeout=2 * budget.time_limit))
    if difference is None:  # the replay's weights: its accuracy, measured once per pool seed, is theirs
        accuracy = expected.accuracy(images, labels)
    else:
        model = ReferenceCNN()
        model.load_state_dict(weights)
        accuracy = accuracy_percent(model, images, labels)
    attach("accuracy", {"reached": round(accuracy, 2), "threshold": budget.min_accuracy})
    expected_steps = budget.epochs * report["batches_per_epoch"]
    progress = (f"optimizer steps: {report['steps']} (batches: {expected_steps}); loss at the start "
                f"{number_text(losses[0]) if losses else '-'}, at the end {number_text(losses[-1]) if losses else '-'}"
                f"; test accuracy {accuracy:.2f}%")
    if difference is not None:
        name, index, got, want, largest = difference
        hint, diagnosis = _gate_diagnosis(report, weights, run, budget, grading_config, threads, expected_steps)
        raise GradingFailure(
            with_hint(f"Your loop's weights after training ({described}) differ from the contract's loop on the same "
                      f"batches from the same start", hint or _gate_hint(report, losses, weights, expected_steps)),
            f"largest difference {number_text(largest)}, e.g. in {name} at flat index {index}: got {number_text(got)}, "
            f"expected {number_text(want)}; {progress}", diagnosis=diagnosis)
    if accuracy < budget.min_accuracy:  # the contract's own loop fell short: a calibration fault, not the student's
        raise HostFault(f"the contract's loop reached only {accuracy:.2f}% on gate seed {run.index} "
                        f"(min_accuracy {budget.min_accuracy:g}): recalibrate [training] in grading.toml")
