"""Patches and the tiny Vision Transformer."""
import pytest
import torch
import torch.nn.functional as F

from utils.models.vit import TinyViT, ViTConfig, patchify


def test_patchify_matches_unfold_and_a_loop():
    images = torch.arange(2 * 8 * 8, dtype=torch.float32).view(2, 8, 8)
    patches = patchify(images, 2)
    assert patches.shape == (2, 16, 4)
    unfolded = F.unfold(images.unsqueeze(1), kernel_size=2, stride=2).transpose(1, 2)
    torch.testing.assert_close(patches, unfolded)
    for k in range(16):
        r, c = divmod(k, 4)
        torch.testing.assert_close(patches[1, k], images[1, 2 * r:2 * r + 2, 2 * c:2 * c + 2].flatten())
    with pytest.raises(ValueError, match="cannot be cut"):
        patchify(images, 3)


def test_vit_shapes_and_cls_weights():
    torch.manual_seed(0)
    model = TinyViT(ViTConfig(patch=2, d_model=16, heads=2, layers=2, d_ff=32)).eval()
    logits, weights = model(torch.rand(3, 8, 8), need_weights=True)
    assert logits.shape == (3, 10) and len(weights) == 2
    assert weights[0].shape == (3, 2, 17, 17)
    torch.testing.assert_close(weights[1].sum(-1), torch.ones(3, 2, 17))
    # position vectors make the output depend on where each patch sits
    images = torch.rand(1, 8, 8)
    flipped = images.flip(-1)
    assert not torch.allclose(model(images)[0], model(flipped)[0])
