"""Built-in generators and the discriminator: shapes, ranges, parameter counts, feasibility."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from colorbench.models import (
    InfeasibleVariantError,
    PatchDiscriminator,
    UnknownOptionError,
    UnknownVariantError,
    gray,
    unet,
    zhang,
)
from colorbench.models.contract import GeneratorPlugin, PluginContractError, contract_problem
from colorbench.study.design import depth_levels

SIZES = (32, 64, 96)
BUILTINS = {"unet": unet.PLUGIN, "zhang": zhang.PLUGIN, "gray": gray.PLUGIN}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def forward(module: nn.Module, size: int, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    L = torch.rand(batch, 1, size, size) * 2 - 1
    with torch.no_grad():
        return L, module(L)


_built: dict[tuple[str, str], nn.Module] = {}


def built(plugin: GeneratorPlugin, variant: str) -> nn.Module:
    # Building the 40-67 M parameter U-Nets is the slow part: do it once per variant.
    key = (plugin.name, variant)
    if key not in _built:
        _built[key] = plugin.build(variant, 256)
    return _built[key]


# -- the contract --------------------------------------------------------------------------------


@pytest.mark.parametrize("plugin", BUILTINS.values(), ids=BUILTINS.keys())
def test_builtins_satisfy_the_contract(plugin):
    assert contract_problem(plugin) is None
    assert plugin.default_variant in plugin.variants
    assert all(plugin.label(v) for v in plugin.variants)


def test_study_defaults_and_flags():
    assert unet.PLUGIN.default_variant == "n_down_8"
    assert {"n_down_7", "n_down_8", "n_down_9"} <= set(unet.PLUGIN.variants)
    assert unet.PLUGIN.label("n_down_7") == "n_down = 7"
    assert zhang.PLUGIN.default_variant == "no_conv5_7"
    assert set(zhang.PLUGIN.variants) == {"full", "no_conv5_7", "removal_348", "removal_348_layers"}
    assert gray.PLUGIN.trainable is False
    assert not any(p.manages_init for p in BUILTINS.values())


def test_unknown_variant_names_the_variants():
    with pytest.raises(UnknownVariantError, match="variants: n_down_5, n_down_6, n_down_7"):
        unet.PLUGIN.create("n_down_12", 256)


def test_contract_rejects_a_bad_default_variant():
    with pytest.raises(PluginContractError, match="default variant 'b' is not one of its variants"):
        GeneratorPlugin("x", "a generator (Nobody 2024)", {"a": {}}, "b", build=print, check=print)


def test_contract_rejects_names_that_cannot_name_a_run():
    with pytest.raises(PluginContractError, match="name must be letters, digits"):
        GeneratorPlugin("my net", "a generator (Nobody 2024)", {"a": {}}, "a", build=print, check=print)


def test_feasibility_rejects_nonsense_sizes():
    assert "positive integer" in gray.PLUGIN.feasibility("zero", 0)


# -- U-Net ---------------------------------------------------------------------------------------


def test_unet_parameter_counts_equal_the_reference():
    # The reference sheet's counts (1 input / 2 output channels) and the general formula's others.
    expected = {
        "n_down_7": 41_824_898,
        "n_down_8": 54_409_858,
        "n_down_9": 66_994_818,
        "n_down_5": 16_654_978,
        "n_down_6": 29_239_938,
    }
    for variant, count in expected.items():
        assert n_params(built(unet.PLUGIN, variant)) == count, variant


def test_unet_layout_follows_pix2pix():
    model = built(unet.PLUGIN, "n_down_8")
    downs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in downs] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert all(c.bias is None and c.kernel_size == (4, 4) and c.stride == (2, 2) for c in downs)
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 8 - 5
    assert isinstance(list(model.modules())[-1], nn.Tanh)


@pytest.mark.parametrize("variant", list(unet.VARIANTS))
def test_unet_every_variant_at_small_sizes(variant):
    n_down = unet.VARIANTS[variant]["n_down"]
    for size in SIZES:
        reason = unet.PLUGIN.check(variant, size)
        if size % 2**n_down == 0:
            assert reason is None
            L, ab = forward(built(unet.PLUGIN, variant).eval(), size)
            assert ab.shape == (2, 2, size, size)
            assert ab.abs().max() <= 1.0
        elif size < 2**n_down:
            assert reason == (
                f"n_down {n_down} needs images of at least {2**n_down} px: "
                f"at {size} px the bottleneck would fall below 1 px"
            )
        else:
            assert f"divisible by {2**n_down}" in reason


@pytest.mark.parametrize("variant", ["n_down_7", "n_down_8", "n_down_9"])
def test_unet_runs_at_its_smallest_size(variant):
    size = 2 ** unet.VARIANTS[variant]["n_down"]
    model = built(unet.PLUGIN, variant).train()  # train mode: dropout and batch statistics
    L, ab = forward(model, size)
    assert ab.shape == (2, 2, size, size) and ab.abs().max() <= 1.0


def test_the_studys_n_down_9_at_256_is_infeasible_with_the_smallest_size():
    message = "n_down 9 needs images of at least 512 px: at 256 px the bottleneck would fall below 1 px"
    assert unet.PLUGIN.check("n_down_9", 256) == message
    with pytest.raises(InfeasibleVariantError, match=message):
        unet.PLUGIN.create("n_down_9", 256)


@pytest.mark.parametrize("n_down", [2, 3, 4])
def test_unet_check_is_exact(n_down):
    # A narrow U-Net runs exactly at the sizes its check accepts and fails at all the others.
    model = unet.UnetGenerator(n_down, num_filters=4).eval()
    for size in range(2, 41):
        ok = unet.check_size(n_down, size) is None
        try:
            out = model(torch.zeros(1, 1, size, size))
            ran = out.shape[-2:] == (size, size)
        except RuntimeError:
            ran = False
        assert ran == ok, (n_down, size)


def test_unet_rejects_depth_below_two():
    with pytest.raises(ValueError, match="at least 2"):
        unet.UnetGenerator(1)


# -- Zhang et al. --------------------------------------------------------------------------------


def test_zhang_parameter_counts():
    assert n_params(built(zhang.PLUGIN, "full")) == pytest.approx(32_236_011, rel=1e-3)
    assert n_params(built(zhang.PLUGIN, "no_conv5_7")) == 10_994_667  # reference sheet, exactly
    assert n_params(built(zhang.PLUGIN, "removal_348")) == 300_395
    # The default less one 3x3 conv (weights + bias) in each of conv3 (256), conv4 (512), conv8 (256).
    removed = sum(9 * c * c + c for c in (256, 512, 256))
    assert removed == 3_539_968
    assert n_params(built(zhang.PLUGIN, "removal_348_layers")) == 10_994_667 - removed == 7_454_699


def test_zhang_depth_levels_of_the_study_are_unchanged():
    # The layers factor takes the default's neighbours; the second reading of "removal 348" must
    # not displace the study's levels, in declaration order (today's planner) or depth order.
    assert zhang.PLUGIN.variant("removal_348_layers").depth is None
    assert zhang.PLUGIN.depth_order() == ["removal_348", "no_conv5_7", "full"]
    for order in (zhang.PLUGIN.depth_order(), list(zhang.PLUGIN.variants)):
        assert set(depth_levels(order, "no_conv5_7")) == {"removal_348", "full"}
    assert zhang.PLUGIN.label("removal_348_layers") == "removal 348, one layer each"


def test_zhang_removal_348_layers_contents_and_shapes():
    model = built(zhang.PLUGIN, "removal_348_layers").eval()
    assert list(model.blocks) == ["conv1", "conv2", "conv3", "conv4", "conv8"]

    def layers(block: str) -> list[nn.Module]:
        return [m for m in model.blocks[block] if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]

    assert [(m.out_channels, m.stride) for m in layers("conv3")] == [(256, (1, 1)), (256, (2, 2))]
    assert [(m.in_channels, m.out_channels) for m in layers("conv4")] == [(256, 512), (512, 512)]
    assert [type(m) for m in layers("conv8")] == [nn.ConvTranspose2d, nn.Conv2d]
    assert model.to_bins.in_channels == 256
    for size, batch in ((64, 2), (256, 1)):
        assert zhang.PLUGIN.feasibility("removal_348_layers", size) is None
        assert forward(model, size, batch)[1].shape == (batch, 2, size, size)
    assert "divisible by 8" in zhang.PLUGIN.feasibility("removal_348_layers", 36)
    with pytest.raises(ValueError, match="not in the network"):
        zhang.ZhangGenerator(["conv1", "conv2"], one_conv_fewer=["conv3"])


def test_zhang_units_option_is_declared_and_checked():
    option = zhang.PLUGIN.options["units"]
    assert option.default == "normalised" and option.choices == ("normalised", "eccv16")
    assert zhang.PLUGIN.create("removal_348", 32).units == "normalised"
    assert zhang.PLUGIN.create("removal_348", 32, {"units": "eccv16"}).units == "eccv16"
    with pytest.raises(UnknownOptionError, match="units='raw': choose one of normalised, eccv16"):
        zhang.PLUGIN.create("removal_348", 32, {"units": "raw"})


def units_pair(variant: str) -> tuple[nn.Module, nn.Module]:
    """The same weights in both units, in train mode as in a training step (BatchNorm normalises
    with the batch's statistics, so the features are not shrunk by the untrained running ones)."""
    torch.manual_seed(0)
    normalised = zhang.PLUGIN.build_module(variant, 32, {"units": "normalised"})
    eccv16 = zhang.PLUGIN.build_module(variant, 32, {"units": "eccv16"})
    eccv16.load_state_dict(normalised.state_dict())  # same parameter names: units are not weights
    return normalised.train(), eccv16.train()


@pytest.mark.parametrize("variant", ["no_conv5_7", "removal_348"])
def test_zhang_eccv16_units_are_the_original_scalings(variant):
    normalised, eccv16 = units_pair(variant)
    torch.manual_seed(1)
    l_norm = torch.rand(2, 1, 32, 32) * 2 - 1  # what the harness gives: L/50 - 1
    lightness = (l_norm + 1) * 50  # L* in [0, 100]
    seen = []
    eccv16.blocks["conv1"][0].register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():
        expected = 110 * normalised((lightness - 50) / 100)  # eccv16.py: (L - 50)/100 in, x110 out
        got = eccv16(l_norm)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-4)
    assert torch.allclose(seen[0], (lightness - 50) / 100, atol=1e-6)  # what the first conv sees


def test_zhang_eccv16_l1_against_normalised_targets_is_in_raw_units():
    normalised, eccv16 = units_pair("no_conv5_7")
    # A confident classifier (peaked softmax: large bin biases) whose 313 columns are colours in
    # normalised units, as the original's bin centres / 110: the normalised network then predicts
    # colours in the targets' range, as a trained one would (an untrained one predicts ~0).
    with torch.no_grad():
        normalised.to_ab.weight.uniform_(-0.5, 0.5)
        normalised.to_bins.bias.normal_(0, 5)
    eccv16.load_state_dict(normalised.state_dict())
    torch.manual_seed(2)
    l_norm = torch.rand(4, 1, 32, 32) * 2 - 1
    targets = (torch.rand(4, 2, 32, 32) * 2 - 1) * 0.4  # ab/110 of moderately coloured pixels
    with torch.no_grad():
        l1_normalised = F.l1_loss(normalised(l_norm), targets).item()
        l1_eccv16 = F.l1_loss(eccv16(l_norm), targets).item()
    assert l1_normalised < 0.5  # both in ab/110
    assert l1_eccv16 > 2.0  # more than any error between two colours in [-1, 1] can be
    assert l1_eccv16 > 20 * l1_normalised  # measured: 12.1 against 0.215


@pytest.mark.parametrize("variant", list(zhang.VARIANTS))
def test_zhang_every_variant_at_several_sizes(variant):
    model = built(zhang.PLUGIN, variant).eval()
    bound = model.to_ab.weight.abs().max()
    for size in SIZES:
        assert zhang.PLUGIN.check(variant, size) is None
        L, ab = forward(model, size)
        assert ab.shape == (2, 2, size, size)
        # Softmax weights sum to 1: the output is a convex combination of the projection's columns,
        # in normalised units (never multiplied by 110 as in the original).
        assert ab.abs().max() <= bound + 1e-6


def test_zhang_upsampling_is_the_papers_x4():
    model = built(zhang.PLUGIN, "no_conv5_7").eval()
    L = torch.rand(1, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        x = L
        for block in model.blocks.values():
            x = block(x)
        small = model.to_ab(torch.softmax(model.to_bins(x), 1))
        assert small.shape[-1] == 16
        expected = nn.Upsample(scale_factor=4, mode="bilinear")(small)
        assert torch.allclose(model(L), expected, atol=1e-6)


def test_zhang_infeasible_sizes_say_why():
    assert zhang.PLUGIN.check("full", 100) == (
        "zhang full needs an image size divisible by 8 (got 100 px) "
        "so that the x4 upsampling restores it exactly"
    )
    assert zhang.PLUGIN.check("removal_348", 36) is None  # two stride-2 blocks only: divisible by 4
    assert "divisible by 8" in zhang.PLUGIN.check("no_conv5_7", 36)


def test_zhang_variant_contents():
    full = built(zhang.PLUGIN, "full")
    assert list(full.blocks) == [f"conv{i}" for i in range(1, 9)]
    dilated = [m for m in full.modules() if isinstance(m, nn.Conv2d) and m.dilation == (2, 2)]
    assert len(dilated) == 6
    assert full.to_bins.out_channels == zhang.N_BINS and full.to_ab.bias is None
    assert list(built(zhang.PLUGIN, "removal_348").blocks) == ["conv1", "conv2"]
    assert built(zhang.PLUGIN, "removal_348").to_bins.in_channels == 128


def test_zhang_rejects_block_lists_whose_strides_do_not_cancel():
    with pytest.raises(ValueError, match="downsample by 8"):
        zhang.ZhangGenerator(["conv1", "conv2", "conv3"])


# -- gray and the discriminator ------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_gray_predicts_zero_ab(size):
    model = gray.PLUGIN.create("zero", size)
    L, ab = forward(model, size, batch=3)
    assert ab.shape == (3, 2, size, size) and ab.dtype == L.dtype
    assert torch.count_nonzero(ab) == 0
    assert n_params(model) == 0


def test_patch_discriminator_matches_the_reference():
    d = PatchDiscriminator(in_channels=3)
    assert n_params(d) == 2_765_633
    with torch.no_grad():
        assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
        assert d.eval()(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    norms = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(norms) == 3 and convs[0].bias is not None and convs[-1].bias is not None
