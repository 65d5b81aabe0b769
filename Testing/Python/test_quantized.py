"""Int8 forms of the networks: what the pack builder saves, the engine rebuilds exactly."""
import copy

import pytest
import torch

from SegmentationQCLib.errornet import ErrorNet
from SegmentationQCLib.quantized import calibrate, int8_model, load_int8, native_int8

pytestmark = pytest.mark.skipif(not native_int8("cpu"), reason="no x86 int8 kernels in this PyTorch")


def test_saved_int8_weights_rebuild_the_same_network(tmp_path):
    torch.manual_seed(0)
    net = ErrorNet(base=4).eval()
    x = torch.rand(6, 4, 32, 32)
    x[:, 1:] = (x[:, 1:] > 0.7).float()
    quantised = calibrate(copy.deepcopy(net), [x[:3], x[3:]])
    torch.save(quantised.state_dict(), tmp_path / "q.pt")
    rebuilt = int8_model(ErrorNet(base=4), load_int8(tmp_path / "q.pt"), x[:1])
    with torch.no_grad():
        assert torch.equal(rebuilt(x), quantised(x))
        full = torch.softmax(net(x), 1)
        assert (torch.softmax(rebuilt(x), 1) - full).abs().mean() < 0.02  # int8, close to the float network
        assert not torch.equal(torch.softmax(rebuilt(x), 1), full)
