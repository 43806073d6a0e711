"""Checkers for chapter 12: images back from their patch sequences, and the whole ViT checked
against the book's TinyViT with copied weights."""
from __future__ import annotations

import torch

from ..models.vit import TinyViT, ViTConfig, patchify
from .core import _call, _diagnose, _Failed, _run, _tensor
from .modules import Site, build, copy_attention, copy_module, first_difference, same_size, \
    submodule


@_run
def check_unpatchify(fn) -> str:
    """Check ``fn(patches (N, (H/P)(W/P), P·P), H, W) -> images (N, H, W)``, the inverse of
    cutting images into patches in reading order, each flattened row by row."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(12)
    for N, H, W, P in ((2, 8, 8, 2), (1, 8, 8, 4), (3, 6, 9, 3), (2, 4, 6, 1), (1, 5, 5, 5)):
        images = torch.randn(N, H, W, generator=gen)
        patches = patchify(images, P)                                 # (N, n, P·P)
        got = _tensor(_call(fn, name, patches.clone(), H, W), name, (N, H, W))
        rows, cols = H // P, W // P
        cells = patches.view(N, rows, cols, P, P)
        mistakes = [
            (patches.reshape(N, H, W), "a plain reshape lays the patches out as strips of "
                                       "consecutive pixels: view as (N, H/P, W/P, P, P), move "
                                       "the two P axes next to their grid axes, then reshape"),
            (cells.permute(0, 2, 3, 1, 4).reshape(N, H, W) if H == W else None,
             "the grid is read column by column; patch k sits at grid row k // (W/P), "
             "column k % (W/P)"),
            (cells.permute(0, 1, 4, 2, 3).reshape(N, H, W),
             "each patch is transposed: its P·P values are its rows one after another"),
        ]
        _diagnose(got, images, [(w, m) for w, m in mistakes if w is not None],
                  f"wrong images for {H}×{W} and P = {P}: patch k is the P×P block at grid row "
                  "k // (W/P), column k % (W/P), flattened row by row")
    return f"{name} puts the patches back into images, undoing the cut into patches."


# --- the whole ViT ---------------------------------------------------------------------------

VIT_PARTS = "embed, cls, positions, blocks, norm, head"
VIT_MISTAKES = {
    "rows of pixels": "the patches are not P × P squares: reshape(N, -1, P·P) cuts runs of "
                      "P·P pixels along the rows; reshape to (N, H/P, P, W/P, P) and permute",
    "column order": "the patches are read column by column; the book reads the grid row by "
                    "row (patch k is row k // (W/P), column k % (W/P))",
    "no positions": "no position vectors are added: without them the encoder sees a bag of "
                    "patches",
    "cls last": "[CLS] is put at the end of the sequence; it goes in front (position 0)",
    "positions before cls": "the position vectors are added to the patches before [CLS] is put "
                            "in front, so [CLS] gets none and each patch gets its neighbour's: "
                            "prepend [CLS], then add all n + 1 position vectors",
    "cls without position": "[CLS] gets no position vector: the patches got theirs before "
                            "[CLS] was put in front; add all n + 1 position vectors after it",
    "mean pooled": "the class is read from the mean over all positions; this ViT reads the final "
                   "[CLS] vector (position 0)",
    "last position": "the class is read from the last position; [CLS] is at position 0",
}


def _vit_sites(ref, images, mistake=None):
    """The calls of the book's TinyViT (written out), with ``mistake`` made."""
    N, H, W = images.shape
    P = ref.patch
    if mistake == "rows of pixels":
        patches = images.reshape(N, -1, P * P)
    elif mistake == "column order":
        patches = images.reshape(N, H // P, P, W // P, P).permute(0, 3, 1, 2, 4) \
            .reshape(N, -1, P * P)
    else:
        patches = patchify(images, P)
    x = ref.embed(patches)
    sites = [Site("embed", patches, x, "the flattened P × P patches, in reading order")]
    cls = ref.cls.expand(N, -1, -1)
    if mistake in ("positions before cls", "cls without position"):
        shifted = ref.positions[:, :-1] if mistake == "positions before cls" \
            else ref.positions[:, 1:]
        x = torch.cat([cls, x + shifted], 1)
    else:
        x = torch.cat([x, cls] if mistake == "cls last" else [cls, x], 1)
        x = x if mistake == "no positions" else x + ref.positions
    for i, block in enumerate(ref.blocks):
        out = block(x)[0]
        sites.append(Site(f"blocks.{i}", x, out, "[CLS] and the embedded patches, plus the "
                          "position vectors" if i == 0 else f"the output of blocks.{i - 1}"))
        x = out
    pooled = x.mean(1) if mistake == "mean pooled" else x[:, -1] if mistake == "last position" \
        else x[:, 0]
    normed = ref.norm(pooled)
    logits = ref.head(normed)
    sites += [Site("norm", pooled, normed, "the final [CLS] vector (position 0)"),
              Site("head", normed, logits, "norm's output"), Site("output", None, logits)]
    return sites


def _give_vit_weights(student, ref, what):
    with torch.no_grad():
        for name in ("cls", "positions"):
            mine = getattr(student, name, None)
            if not isinstance(mine, torch.nn.Parameter) or mine.shape != getattr(ref, name).shape:
                raise _Failed(f"{what}.{name} should be an nn.Parameter of shape "
                              f"{tuple(getattr(ref, name).shape)}")
            mine.copy_(getattr(ref, name))
    for name in ("embed", "norm", "head"):
        copy_module(submodule(student, name, what, VIT_PARTS), getattr(ref, name), name)
    blocks = submodule(student, "blocks", what, VIT_PARTS)
    if len(blocks) != len(ref.blocks):
        raise _Failed(f"{what} has {len(blocks)} blocks, the configuration asks for "
                      f"{len(ref.blocks)}")
    for i, (block, tested) in enumerate(zip(blocks, ref.blocks)):
        _give_block(block, tested, f"blocks[{i}]")
    same_size(student, ref, what)


def _give_block(block, tested, name):
    """A TransformerBlock's weights into a TransformerBlock, or into a layer with PyTorch's
    names (nn.TransformerEncoderLayer(norm_first=True), or exercise 9.5's EncoderLayer)."""
    if set(block.state_dict()) == set(tested.state_dict()):
        copy_module(block, tested, name)
        return
    if not all(hasattr(block, part) for part in ("self_attn", "linear1", "linear2", "norm1",
                                                 "norm2")):
        raise _Failed(f"{name} should be chapter 9's TransformerBlock(E, heads, d_ff, "
                      "norm='pre') or a pre-LN layer with PyTorch's part names (self_attn, "
                      "linear1, linear2, norm1, norm2)")
    mha = tested.self_attention
    torch_mha = torch.nn.MultiheadAttention(mha.embed_dim, mha.num_heads, batch_first=True)
    with torch.no_grad():
        torch_mha.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight,
                                                  mha.v_proj.weight]))
        torch_mha.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias,
                                                mha.v_proj.bias]))
        torch_mha.out_proj.load_state_dict(mha.out_proj.state_dict())
    copy_attention(block.self_attn, torch_mha.double(), f"{name}.self_attn")
    for part, source in (("linear1", tested.ffn.linear1), ("linear2", tested.ffn.linear2),
                         ("norm1", tested.norm1), ("norm2", tested.norm2)):
        copy_module(getattr(block, part), source, f"{name}.{part}")


@_run(forbid=(TinyViT.forward,))
def check_vit(cls) -> str:
    """Check ``cls(image_size, patch, d_model, heads, layers, d_ff, classes)``: a ViT with parts
    ``embed``, ``cls``, ``positions``, ``blocks``, ``norm`` and ``head`` whose
    ``forward(images (N, H, W)) -> logits (N, classes)`` computes what the book's TinyViT
    computes with the same weights."""
    what = getattr(cls, "__name__", "your model")
    gen = torch.Generator().manual_seed(12)
    for size, patch, N in ((8, 2, 3), (6, 3, 1)):
        torch.manual_seed(size)
        ref = TinyViT(ViTConfig(image_size=size, patch=patch, d_model=16, heads=2, layers=2,
                                d_ff=24, dropout=0.0, classes=5)).double().eval()
        with torch.no_grad():
            ref.cls.normal_()                                      # not zero, as trained
            for module in ref.modules():
                if isinstance(module, torch.nn.LayerNorm):
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.5, 0.5)
        student = build(cls, what, image_size=size, patch=patch, d_model=16, heads=2, layers=2,
                        d_ff=24, classes=5)
        _give_vit_weights(student, ref, what)
        images = torch.rand(N, size, size, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            sites = _vit_sites(ref, images)
            assert torch.allclose(sites[-1].output, ref(images)[0], atol=1e-10)
            wrong = {sentence: {s.name: s for s in _vit_sites(ref, images, mistake)}
                     for mistake, sentence in VIT_MISTAKES.items()}
            try:
                first_difference(student, lambda m: _call(m, what, images.clone()), sites,
                                 wrong, what)
            except _Failed as failure:
                raise _Failed(f"{size} × {size} images in {patch} × {patch} patches: {failure}") \
                    from None
    return f"{what} computes the book's ViT: patches, [CLS], positions, blocks and head."
