"""The checker of chapter 12's ViT exercise: ViTs built on the book's blocks, on PyTorch's encoder
layers and with unfold are accepted; each plausible wrong model is rejected with the sentence
that names its mistake, at the first intermediate tensor where it leaves the book's TinyViT."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.checks import check_vit
from utils.models.blocks import TransformerBlock


class BookBlocks(nn.Module):
    def __init__(self, image_size, patch, d_model, heads, layers, d_ff, classes, mistake=None):
        super().__init__()
        self.P, n, self.mistake = patch, (image_size // patch) ** 2, mistake
        self.embed = nn.Linear(patch * patch, d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        self.positions = nn.Parameter(torch.zeros(1, n + 1, d_model))
        self.blocks = nn.ModuleList(TransformerBlock(d_model, heads, d_ff) for _ in range(layers))
        self.norm, self.head = nn.LayerNorm(d_model), nn.Linear(d_model, classes)

    def forward(self, images):
        N, H, W = images.shape
        P, m = self.P, self.mistake
        if m == "rows of pixels":
            patches = images.reshape(N, -1, P * P)
        elif m == "column order":
            patches = images.reshape(N, H // P, P, W // P, P).permute(0, 3, 1, 2, 4).reshape(
                N, -1, P * P)
        else:
            patches = images.reshape(N, H // P, P, W // P, P).permute(0, 1, 3, 2, 4).reshape(
                N, -1, P * P)
        x = self.embed(patches)
        cls = self.cls.expand(N, -1, -1)
        if m == "positions before cls":
            x = torch.cat([cls, x + self.positions[:, 1:]], 1)
        elif m == "cls last":
            x = torch.cat([x, cls], 1) + self.positions
        else:
            x = torch.cat([cls, x], 1)
            x = x if m == "no positions" else x + self.positions
        for block in self.blocks:
            x = block(x)[0]
        pooled = x.mean(1) if m == "mean pooled" else x[:, -1] if m == "last position" else x[:, 0]
        if m == "no norm":
            return self.head(pooled)
        return self.head(self.norm(pooled))


class TorchLayers(nn.Module):
    """PyTorch's pre-LN encoder layers as blocks, patches by F.unfold, [CLS] by F.pad-free cat."""

    def __init__(self, image_size, patch, d_model, heads, layers, d_ff, classes):
        super().__init__()
        self.P = patch
        self.embed = nn.Linear(patch * patch, d_model)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model))
        self.positions = nn.Parameter(torch.randn(1, (image_size // patch) ** 2 + 1, d_model))
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, heads, d_ff, dropout=0.0, norm_first=True,
                                       batch_first=True) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, classes)

    def forward(self, images):
        patches = F.unfold(images.unsqueeze(1), self.P, stride=self.P).transpose(1, 2)
        tokens = self.embed(patches)
        x = torch.cat([self.cls.expand(len(images), 1, -1), tokens], dim=1) + self.positions
        for layer in self.blocks:
            x = layer(x)
        return self.head(self.norm(x[:, 0, :]))


class NormAll(BookBlocks):
    """The final norm on every position, then [CLS] (as timm and transformers do)."""

    def forward(self, images):
        N, H, W = images.shape
        P = self.P
        patches = images.reshape(N, H // P, P, W // P, P).transpose(2, 3).reshape(N, -1, P * P)
        x = torch.cat([self.cls.expand(N, -1, -1), self.embed(patches)], 1) + self.positions
        for block in self.blocks:
            x = block(x)[0]
        return self.head(self.norm(x)[:, 0])


@pytest.mark.parametrize("answer", [BookBlocks, TorchLayers, NormAll])
def test_vit_check_accepts_correct_models(answer):
    result = check_vit(answer)
    assert result, result


VIT_WRONG = {
    "rows of pixels": "the input of `embed` is the first tensor that differs: the patches are "
                      "not P × P squares",
    "column order": "the patches are read column by column",
    "no positions": "the input of `blocks.0` is the first tensor that differs: no position "
                    "vectors are added",
    "cls last": "[CLS] is put at the end of the sequence",
    "positions before cls": "[CLS] gets no position vector",
    "mean pooled": "the input of `norm` is the first tensor that differs: the class is read "
                   "from the mean over all positions",
    "last position": "the class is read from the last position",
    "no norm": "`norm` is never called in forward",
}


@pytest.mark.parametrize("mistake", VIT_WRONG)
def test_vit_check_names_the_mistake(mistake):
    class Wrong(BookBlocks):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, mistake=mistake, **kwargs)

    result = check_vit(Wrong)
    assert not result and VIT_WRONG[mistake] in result.message, result


def test_vit_check_rejects_the_books_model_a_stub_and_a_wrong_shape():
    from utils.models.vit import TinyViT, ViTConfig

    class Wrapped(BookBlocks):
        def forward(self, images):
            inner = TinyViT(ViTConfig(image_size=images.shape[-1], patch=self.P, d_model=16,
                                      heads=2, layers=2, d_ff=24, dropout=0.0, classes=5))
            return inner.double()(images)[0]

    assert "calls `utils.models.vit.TinyViT.forward`" in check_vit(Wrapped).message

    class Stub(nn.Module):
        def __init__(self, image_size, patch, d_model, heads, layers, d_ff, classes):
            raise NotImplementedError

    assert "not implemented yet" in check_vit(Stub).message

    class FlatPositions(BookBlocks):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.positions = nn.Parameter(self.positions[0])

    assert "positions should be an nn.Parameter of shape" in check_vit(FlatPositions).message
