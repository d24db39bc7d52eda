"""The worker's reply format: data only, never code; frames carry the id of the request they answer."""
import json
import os
import pickle

import numpy as np
import pytest
import torch

from autograder.engine.runtime import wire


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


class _Boom:
    """Unpickling it would run a shell command: proof that no reader ever unpickles."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_pickle_never_runs_on_either_side(tmp_path):
    flag = tmp_path / "unpickled"
    boom = _Boom(flag)
    for frame in (pickle.dumps(boom), json.dumps({"__pickle__": pickle.dumps(boom).hex()}).encode()):
        with pytest.raises(wire.WireError):
            wire.decode(frame)
    opaque = wire.decode(wire.encode(boom))  # the worker side sends an object as its type name and repr
    assert isinstance(opaque, wire.Opaque) and opaque.type_name.endswith("_Boom")
    assert not flag.exists()


@pytest.fixture
def pipe():
    read_fd, write_fd = os.pipe()
    ends = {"read": read_fd, "write": write_fd}
    yield ends
    for fd in ends.values():
        try:
            os.close(fd)
        except OSError:
            pass


def test_frames_round_trip_with_their_request_id(pipe):
    wire.write_frame(pipe["write"], b"hello", 7)
    wire.write_frame(pipe["write"], b"", 2 ** 32 - 1)
    os.close(pipe["write"])
    assert wire.read_frame(pipe["read"]) == (7, b"hello")
    assert wire.read_frame(pipe["read"]) == (2 ** 32 - 1, b"")
    assert wire.read_frame(pipe["read"]) is None


def test_the_header_is_read_alone_so_the_id_is_checked_before_the_payload(pipe):
    wire.write_frame(pipe["write"], b"payload", 42)
    assert wire.read_header(pipe["read"]) == (7, 42)
    assert os.read(pipe["read"], 100) == b"payload"  # nothing of the payload was consumed


def test_an_oversized_header_is_refused_before_its_payload_is_read(pipe):
    header = (wire.MAX_FRAME_BYTES + 1).to_bytes(4, "big") + (3).to_bytes(4, "big")
    os.write(pipe["write"], header + b"first bytes of the payload")
    with pytest.raises(wire.WireError, match="larger than allowed"):
        wire.read_header(pipe["read"])
    assert os.read(pipe["read"], 100) == b"first bytes of the payload"


def test_a_stream_cut_inside_a_payload_is_an_error_not_an_end(pipe):
    os.write(pipe["write"], (100).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"short")
    os.close(pipe["write"])
    with pytest.raises(wire.WireError):
        wire.read_frame(pipe["read"])
