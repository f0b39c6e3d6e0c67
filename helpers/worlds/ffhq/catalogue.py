"""The ffhq world's weights: the paper's models in the weights registry (``helpers.weights``).

Hashes and sizes are the git-LFS pointers (``oid sha256``/``size``) of the hub copies named in each
URL; every hash below was found on at least two independent uploads (see ``notes``). Importing this
module registers them; it needs no torch.
"""
from __future__ import annotations

from ...weights import WeightSpec, register

register(WeightSpec(
    name="stylegan2-ffhq",
    urls=(
        "https://huggingface.co/akhaliq/OneshotCLIP-stylegan2-ffhq/resolve/main/stylegan2-ffhq-config-f.pt",
        "https://huggingface.co/spaces/ethanNeuralImage/inversion_testing/resolve/"
        "2448e446032e40d1dfbc57aaa86b379ae5e871ae/pretrained_models/stylegan2-ffhq-config-f.pt",
    ),
    sha256="bae494ef77e32a9cd1792a81a3c167692a0e64f6bcd8b06592ff42917e2ed46e",
    size=381_462_551,
    format="rosinality-stylegan2",
    licence="NVIDIA Source Code License-NC (StyleGAN2 FFHQ weights: non-commercial use); "
            "converted to PyTorch by rosinality/stylegan2-pytorch (MIT)",
    description="StyleGAN2 FFHQ 1024×1024 config-f, rosinality format (g_ema, latent_avg)",
    filename="stylegan2-ffhq-config-f.pt",
    source="https://github.com/rosinality/stylegan2-pytorch (converted from NVlabs/stylegan2); "
           "Drive copy linked from eladrich/pixel2style2pixel's README",
    notes="Same oid on huggingface.co/akhaliq/OneshotCLIP-stylegan2-ffhq (commit 024390a) and "
          "spaces/ethanNeuralImage/inversion_testing (commit 2448e44). At 381 MB this copy likely "
          "also holds g and d; only g_ema and latent_avg are used. Smaller 133 MB copies with other "
          "hashes exist (e.g. wmpscc/StyleGene) and are not this entry.",
))

register(WeightSpec(
    name="restyle-psp-ffhq",
    urls=(
        "https://drive.usercontent.google.com/download?id=1sw6I2lRIB0MpuJkpc8F5BJiSZrc0hjfE"
        "&export=download&confirm=t",
        # the paper's README links its own copy; a file from either has no hash to check
        "https://drive.usercontent.google.com/download?id=1r5KSlQhf93fUllwqid80p4fxlzdR5A3f"
        "&export=download&confirm=t",
    ),
    sha256=None,
    size=None,
    format="restyle-psp",
    licence="MIT (yuval-alaluf/restyle-encoder); contains a StyleGAN2 FFHQ decoder "
            "(NVIDIA Source Code License-NC)",
    description="ReStyle-pSp FFHQ encoder, the paper's inverter: 5 iterations on a 256 px input",
    filename="restyle_psp_ffhq_encode.pt",
    source="https://github.com/yuval-alaluf/restyle-encoder#pretrained-models "
           "(Google Drive file 1sw6I2lRIB0MpuJkpc8F5BJiSZrc0hjfE)",
    notes="No hub mirror with a published sha256 was found, so the download must be accepted with "
          "allow_unverified=True (a warning records the hash). The second URL is the paper's own "
          "Drive copy (its README). When neither can be fetched the ffhq world falls back to e4e, "
          "whose hash is verified.",
))

register(WeightSpec(
    name="e4e-ffhq",
    urls=(
        "https://huggingface.co/zhengchong/e4e/resolve/main/e4e_ffhq_encode.pt",
        "https://huggingface.co/wmpscc/StyleGene/resolve/main/e4e_ffhq_encode.pt",
        "https://drive.usercontent.google.com/download?id=1cUv_reLE6k3604or78EranS7XzuVMWeO"
        "&export=download&confirm=t",
    ),
    sha256="2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999",
    size=1_201_649_680,
    format="e4e",
    licence="MIT (omertov/encoder4editing); contains a StyleGAN2 FFHQ decoder "
            "(NVIDIA Source Code License-NC)",
    description="encoder4editing (e4e) FFHQ encoder, W+ inversion with editable codes",
    filename="e4e_ffhq_encode.pt",
    source="https://github.com/omertov/encoder4editing#pretrained-models "
           "(Google Drive file 1cUv_reLE6k3604or78EranS7XzuVMWeO)",
    notes="Same oid on huggingface.co/zhengchong/e4e and wmpscc/StyleGene (commit e301280); a "
          "third-party asset list pairs this hash and size with the original Drive file. "
          "Time-Travel-Rephotography's e4e_ffhq_encode.pt is a different file (sha256 6970a146…).",
))

register(WeightSpec(
    name="arcface-ir-se50",
    urls=(
        "https://huggingface.co/spaces/ethanNeuralImage/inversion_testing/resolve/"
        "2448e446032e40d1dfbc57aaa86b379ae5e871ae/pretrained_models/model_ir_se50.pth",
        "https://huggingface.co/lithiumice/ArcFace_PyTorch/resolve/main/InsightFace_Pytorch%2Bmodel_ir_se50.pth",
        "https://github.com/xinntao/facexlib/releases/download/v0.1.0/recognition_arcface_ir_se50.pth",
    ),
    sha256="a035c768259b98ab1ce0e646312f48b9e1e218197a0f80ac6765e88f8b6ddf28",
    size=175_367_323,
    format="arcface-ir-se50",
    licence="MIT (TreB1eN/InsightFace_Pytorch); trained on MS-Celeb-1M, a withdrawn data set: "
            "research use",
    description="ArcFace IR-SE50 face recognition (TreB1eN), the identity loss of pSp/StyleCLIP",
    filename="model_ir_se50.pth",
    source="https://github.com/TreB1eN/InsightFace_Pytorch (IR-SE50 weights; also the Drive link in "
           "eladrich/pixel2style2pixel's README)",
    notes="Same oid on spaces/ethanNeuralImage/inversion_testing (commit 2448e44), "
          "lithiumice/ArcFace_PyTorch (commit 086811e) and spaces/adirik/stylemc-demo; facexlib's "
          "recognition_arcface_ir_se50.pth release asset is the same file.",
))

register(WeightSpec(
    name="clip-vit-b32",
    urls=("https://openaipublic.azureedge.net/clip/models/"
          "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",),
    sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    size=None,
    format="openai-clip-torchscript",
    licence="MIT (openai/CLIP)",
    description="CLIP ViT-B/32, the paper's text guide: OpenAI's TorchScript archive",
    filename="ViT-B-32.pt",
    source="https://github.com/openai/CLIP (clip/clip.py, _MODELS['ViT-B/32'])",
    notes="OpenAI publishes the file's sha256 as a folder of its URL; the `clip` package checks the "
          "same digest after its own download.",
))

