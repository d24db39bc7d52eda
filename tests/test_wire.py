"""The worker's reply format: data only, never code."""
import pickle

import numpy as np
import pytest
import torch

from autograder.runtime import wire


def test_round_trip_of_plain_data_and_tensors():
    value = {"t": torch.arange(6, dtype=torch.float32).reshape(2, 3), "i": torch.tensor([1, 2]),
             "n": (1, 2.5, None, True, "x"), "l": [torch.zeros(0, 4)], 3: "int key"}
    back = wire.decode(wire.encode(value))
    assert torch.equal(back["t"], value["t"]) and back["t"].dtype == torch.float32
    assert back["i"].dtype == torch.int64 and back["n"] == (1, 2.5, None, True, "x")
    assert back["l"][0].shape == (0, 4) and back[3] == "int key"


def test_numpy_arrays_arrive_marked_as_numpy():
    back = wire.decode(wire.encode(np.ones((2, 2), dtype=np.float32)))
    assert isinstance(back, wire.NumpyValue) and back.array.shape == (2, 2)


def test_tensor_subclass_is_read_as_plain_tensor():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    liar = torch.zeros(2).as_subclass(Liar)
    back = wire.decode(wire.encode(liar))
    assert type(back) is torch.Tensor and torch.equal(back, torch.zeros(2))


def test_unknown_objects_become_opaque_descriptions():
    class Thing:
        def __repr__(self):
            raise RuntimeError("hostile repr")

    back = wire.decode(wire.encode([Thing()]))
    assert isinstance(back[0], wire.Opaque) and back[0].type_name.endswith("Thing")


@pytest.mark.parametrize("payload", [
    b'{"__pickle__": "gASVAAAA"}',
    b'{"__tensor__": {"dtype": "object", "shape": [1], "data": "AA=="}}',
    b'{"__tensor__": {"dtype": "float32", "shape": [5], "data": "AAAAAA=="}}',
    b"not json",
    pickle.dumps({"a": 1}),
])
def test_malformed_or_executable_messages_are_refused(payload):
    with pytest.raises(wire.WireError):
        wire.decode(payload)


def test_frames_round_trip_through_a_pipe():
    import os

    read_fd, write_fd = os.pipe()
    wire.write_frame(write_fd, b"hello")
    os.close(write_fd)
    assert wire.read_frame(read_fd) == b"hello"
    assert wire.read_frame(read_fd) is None
    os.close(read_fd)
