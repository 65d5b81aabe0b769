import copy

import pytest
import torch

from SegmentationQCLib.errornet import ErrorNet
from SegmentationQCLib.inference import channels_last, flip_mean, optimise
from SegmentationQCLib.slicenet import SliceQCNet


def _trained_like(net):
    """Random BatchNorm statistics and affine terms, so that folding them is not a no-op."""
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))
    return net.eval()


@pytest.mark.parametrize("net", [SliceQCNet(width=8), ErrorNet(base=4)], ids=["slice", "errormap"])
def test_optimised_network_folds_batchnorm_and_keeps_outputs(net):
    net = _trained_like(net)
    fast = optimise(copy.deepcopy(net))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    x = torch.rand(3, 4, 64, 64)
    with torch.inference_mode():
        want, got = net(x), fast(channels_last(x))
    for a, b in zip(want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)):
        assert torch.allclose(a, b, atol=1e-4)


def test_flip_mean_flips_maps_back_and_averages():
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).view(2, 1, 2, 3)
    left_cumsum = lambda t: t.cumsum(3)  # noqa: E731 - not flip-equivariant
    got = flip_mean(left_cumsum, x, [(3,)], maps=True)
    want = (x.cumsum(3) + x.flip(3).cumsum(3).flip(3)) / 2  # right-to-left sums, flipped back
    assert torch.equal(got, want)
    assert torch.equal(flip_mean(left_cumsum, x, []), x.cumsum(3))
    per_image = lambda t: (t[:, :, 0, 0], t.sum((1, 2, 3)))  # noqa: E731 - tuples, no flip back
    corner, total = flip_mean(per_image, x, [(2,), (3,), (2, 3)])
    assert torch.equal(corner, x[:, :, [0, 0, -1, -1], [0, -1, 0, -1]].mean(2))
    assert torch.equal(total, x.sum((1, 2, 3)))
